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
