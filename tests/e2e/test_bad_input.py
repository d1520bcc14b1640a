"""Mistakes a user can fix: one line saying what and how, exit status 2, no traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

INVOKE = str(Path(__file__).parents[2] / ".venv/bin/invoke")


def _invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INVOKE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).parents[2],
    )


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (("vm.up", "--kernel", "4.4"), {}, "unknown kernel line '4.4'"),
        (("box.build", "--kernel", "nope"), {}, "unknown kernel line 'nope'"),
        (("vm.run", "--name", "no-such-vm", "--", "true"), {}, "no VM called 'no-such-vm'"),
        (("vm.status",), {"VEXFS_MEMORY_MIB": "lots"}, "memory_mib = 'lots' in the environment"),
        (("vm.up", "--provider", "hyperv"), {}, "unknown provider 'hyperv'"),
        (("vm.run", "--name", "no-such-vm"), {}, "no command"),
        (("test.kernel", "--module-dir", "/nonexistent/mod"), {}, "module directory /nonexistent/mod does not exist"),
        (("test.kernel", "--module-dir", "tests/e2e"), {}, "has no Makefile or Kbuild"),
        (("test.kernel", "--module-param", "novalue"), {}, "module parameter 'novalue' is not NAME=VALUE"),
        (("test.kernel", "--build-in", "cloud"), {}, "--build-in must be one of chroot, guest"),
        (("results.show", "--run", "no-such-run"), {}, "no results for run 'no-such-run'"),
        (("results.export", "--format", "xml"), {}, "unknown format 'xml'"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(args: tuple[str, ...], env: dict[str, str], fragment: str) -> None:
    done = _invoke(*args, env=env)
    assert done.returncode == 2
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_missing_qemu_says_how_to_install_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = _invoke("vm.up", "--name", "noqemu", env={"PATH": "/nonexistent", "VEXFS_STATE_DIR": str(state)})
    assert done.returncode == 2
    assert "qemu-system-x86_64 not found: run ./setup" in done.stderr
    assert "Traceback" not in done.stderr


def test_no_disk_space_for_a_box_is_refused_before_building(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("box.build checks root before disk space; run as root to reach the disk check")
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(small)]).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here to simulate a full disk")
    try:
        done = _invoke("box.build", "--kernel", "6.12", env={"VEXFS_CACHE_DIR": str(small)})
    finally:
        subprocess.run(["umount", str(small)])
    assert done.returncode == 2
    assert "GiB free" in done.stderr and "invoke box.remove" in done.stderr


def test_box_build_failing_halfway_says_where_and_leaves_no_half_box(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("box.build needs root to reach mmdebstrap")
    cache = tmp_path / "cache"
    done = _invoke("box.build", env={"VEXFS_CACHE_DIR": str(cache), "VEXFS_MIRROR": "http://127.0.0.1:9/debian"})
    assert done.returncode == 2
    assert "error: box build failed at mmdebstrap:" in done.stderr and "full log:" in done.stderr
    assert "Traceback" not in done.stderr
    assert [p.name for p in (cache / "boxes").iterdir() if not p.name.endswith(".lock")] == []
