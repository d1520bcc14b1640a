"""The rules that keep the packages apart (docs/architecture.md), read from the sources' imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

TOOLKIT = Path(__file__).parents[2] / "toolkit"


def _imports(path: Path) -> set[str]:
    """Every toolkit module a source file imports (`from toolkit.x import y` names toolkit.x and toolkit.x.y)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return {name for name in found if name.startswith("toolkit")}


def _package_imports(package: str) -> set[str]:
    folder = TOOLKIT.joinpath(*package.split(".")[1:])
    return {name for path in folder.rglob("*.py") for name in _imports(path)}


def test_the_domain_packages_import_nothing_of_each_other() -> None:
    domains = ["toolkit.domains.kernel_module", "toolkit.domains.filesystem"]
    for domain in domains:
        others = [other for other in domains if other != domain]
        crossing = sorted(name for name in _package_imports(domain) if name.startswith(tuple(others)))
        assert crossing == [], f"{domain} imports {crossing}"


def _loaded_by(code: str) -> list[str]:
    """The modules a fresh interpreter has loaded once it ran code, from the checkout."""
    return subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True, cwd=TOOLKIT.parent,
    ).stdout.split()  # fmt: skip


def test_the_machine_protocol_imports_nothing_of_the_toolkit() -> None:
    """At run time (its type hints name records of the machines' registry, imported only for type checkers)."""
    loaded = _loaded_by("import toolkit.machines.protocol")
    assert [name for name in loaded if name.startswith("toolkit")] == [
        "toolkit", "toolkit.machines", "toolkit.machines.protocol"
    ]  # fmt: skip


# What does a command's work, which no command's start may load: its declarations import none of it.
WORK = ["toolkit.config", "toolkit.domains.base", "toolkit.domains.kernel_module.domain",
        "toolkit.domains.filesystem.domain", "toolkit.run_request", "toolkit.pipeline", "toolkit.results.store",
        "toolkit.results.reports", "toolkit.results.records", "toolkit.machines.registry",
        "toolkit.machines.box_supply", "toolkit.known_failures", "toolkit.kernel_log", "toolkit.tasks.common",
        "psutil", "fabric", "paramiko", "jsonschema", "tomllib"]  # fmt: skip


def test_declaring_every_task_loads_none_of_the_work_of_any() -> None:
    """`import tasks` (what `invoke` does before it reads a word) and the task help it prints."""
    loaded = _loaded_by("import tasks, toolkit.tasks.test as t\nt.test_kernel.get_arguments()")
    assert "toolkit.tasks.vm" in loaded
    assert sorted(set(WORK) & set(loaded)) == []
