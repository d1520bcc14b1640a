from toolkit import kernels
from toolkit.boxes.recipe import BoxRecipe


def test_key_is_stable_for_the_same_recipe() -> None:
    line = kernels.select("6.1")
    assert BoxRecipe(line).key() == BoxRecipe(line).key()


def test_key_changes_with_suite_packages_and_disk() -> None:
    base = BoxRecipe(kernels.select("6.1"))
    others = [
        BoxRecipe(kernels.select("6.12")),
        BoxRecipe(base.line, packages=(*base.packages, "strace")),
        BoxRecipe(base.line, disk_gib=base.disk_gib + 1),
    ]
    assert len({base.key(), *(other.key() for other in others)}) == 4


def test_name_starts_with_the_suite() -> None:
    recipe = BoxRecipe(kernels.select("trixie"))
    assert recipe.name == f"trixie-{recipe.key()}"


def test_key_reads_only_guest_files_and_changes_with_the_layout_version(monkeypatch) -> None:
    from pathlib import Path

    from toolkit.boxes import recipe

    read: list[Path] = []
    original = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: read.append(self) or original(self, *a, **k))
    before = BoxRecipe(kernels.select("6.1")).key()
    assert read and all(path.parent == recipe.GUEST_FILES for path in read)
    monkeypatch.setattr(recipe, "LAYOUT_VERSION", recipe.LAYOUT_VERSION + 1)
    assert BoxRecipe(kernels.select("6.1")).key() != before


def test_docs_manuals_and_translations_are_left_out_and_copyrights_kept() -> None:
    from toolkit.boxes import recipe

    options = BoxRecipe(kernels.select("6.1")).dpkg_options()
    assert [f"--dpkgopt=path-exclude={path}" for path in recipe.LEFT_OUT] == options[: len(recipe.LEFT_OUT)]
    assert options[-1] == "--dpkgopt=path-include=/usr/share/doc/*/copyright"
    assert {"/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*"} <= set(recipe.LEFT_OUT)


def test_key_changes_with_what_is_left_out(monkeypatch) -> None:
    from toolkit.boxes import recipe

    before = BoxRecipe(kernels.select("6.1")).key()
    monkeypatch.setattr(recipe, "LEFT_OUT", recipe.LEFT_OUT[1:])
    assert BoxRecipe(kernels.select("6.1")).key() != before
