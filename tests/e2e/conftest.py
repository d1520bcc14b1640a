from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from toolkit import config
from toolkit.config import Settings
from toolkit.domains.kernel_module import domain as kernel_module
from toolkit.machines import box_supply, registry

VEXFS_TESTS = len(kernel_module.DOMAIN.test_names)  # a run of kernel/vexfs: every kernel_module test, all green


@pytest.fixture(scope="session")
def settings() -> Settings:
    return config.load()


@pytest.fixture(scope="session")
def box(settings: Settings):  # noqa: ANN201
    """The default box, built on first use (CI builds it once per run when no cache is warm)."""
    return box_supply.box_for(settings, settings.kernel)


def source_line(source: Path, text: str, after: str = "") -> int:
    """The number of the first line of source holding text (past the first line holding after, when given)."""
    lines = source.read_text().splitlines()
    start = next(index for index, line in enumerate(lines) if after in line) if after else 0
    return next(number for number, line in enumerate(lines[start:], start=start + 1) if text in line)


def qemu_processes_for(name: str) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if f"vexfs-{name}" in (p.info["cmdline"] or [])]


@pytest.fixture
def vm_name() -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    yield name
    for process in qemu_processes_for(name):
        process.kill()


@pytest.fixture(scope="module", params=["6.1", pytest.param("7.x", marks=pytest.mark.full)])
def line_vm(request: pytest.FixtureRequest, settings: Settings) -> Iterator[tuple[Settings, str]]:
    """Settings for 6.1 and for 7.x (7.x in the full suites) and a VM of the test module's own on that line."""
    on_line = dataclasses.replace(settings, kernel=request.param)
    box_supply.box_for(on_line, on_line.kernel)
    name = f"e2e-line-{uuid.uuid4().hex[:6]}"
    yield on_line, name
    registry.open_existing(on_line, name).destroy()
    assert qemu_processes_for(name) == []
