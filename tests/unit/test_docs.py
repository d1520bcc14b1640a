"""The README and the docs site: a short README whose quick start CI runs, and links that lead somewhere."""

import re
from pathlib import Path

REPO = Path(__file__).parents[2]
README = (REPO / "README.md").read_text()
QUICK_START = ["./setup vm.up test.kernel", ".venv/bin/pytest"]


def _quick_start_commands() -> list[str]:
    block = README.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if not line.lstrip().startswith("#")]


def test_the_readme_starts_with_two_commands_and_ci_runs_the_second() -> None:
    assert _quick_start_commands() == QUICK_START
    assert any(line.startswith(QUICK_START[1]) for line in (REPO / ".ci" / "run").read_text().splitlines())


def test_the_readme_stays_a_few_screens_long() -> None:
    assert len(README.splitlines()) <= 200


def test_every_local_link_of_the_readme_names_a_file() -> None:
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    local = [target for target in targets if "://" not in target]
    assert local and [target for target in local if not (REPO / target).exists()] == []


def test_every_docs_page_is_in_the_site_navigation() -> None:
    nav = (REPO / "mkdocs.yml").read_text()
    pages = sorted(str(page.relative_to(REPO / "docs")) for page in (REPO / "docs").rglob("*.md"))
    assert [page for page in pages if f": {page}\n" not in nav] == []
