"""./setup's order: the host's missing packages installed while the Python environment is made, the toolkit
installed into it first, the tools of its own tests (the dev extra) after, while the tasks given as arguments run.
Run on a copy of the checkout whose .venv holds stubs of pip and invoke, with a stub of apt-get: the script's
order and exit statuses are under test, not what the stubs stand for."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from toolkit import host_tools

REPO = Path(__file__).parents[2]
DEV_TOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
# pip installing the dev tools, when there are tasks, waits (10 s at most) for one to start: a task run after them
# sees them installed
PIP = """#!/bin/sh
echo "pip $*" >>calls.log
case "$*" in *" -e "*) exit 0 ;; esac
if [ -n "$TASKS" ]; then
    for _ in $(seq 100); do [ -e task-started ] && break; sleep 0.1; done
fi
touch dev-tools-installed
exit "${PIP_STATUS:-0}"
"""
INVOKE = """#!/bin/sh
touch task-started
if [ -e dev-tools-installed ]; then echo "invoke $* after the dev tools" >>calls.log
else echo "invoke $* before the dev tools" >>calls.log; fi
[ -e packages-installed ] && echo "invoke $* after the packages" >>calls.log
exit "${TASK_STATUS:-0}"
"""
# apt-get installing waits (10 s at most) for the toolkit's installation to start
APT_GET = """#!/bin/sh
echo "apt-get $*" >>calls.log
case "$1" in install) ;; *) exit 0 ;; esac
for _ in $(seq 100); do grep -q "^pip install -q -e" calls.log && break; sleep 0.1; done
grep -q "^pip install -q -e" calls.log && echo "apt-get install while the toolkit installs" >>calls.log
touch packages-installed
exit "${APT_STATUS:-0}"
"""
HOST_COMMANDS = ("bash", "dirname", "sha256sum", "cut", "rm", "touch", "seq", "sleep", "grep", "mktemp", "tail")


def checkout(tmp_path: Path) -> Path:
    """A copy of what ./setup reads, with .venv's python real and its pip and invoke stubs."""
    copy = tmp_path / "checkout"
    (copy / "toolkit").mkdir(parents=True)
    for name in ("setup", "pyproject.toml", "toolkit/host_tools.txt"):
        shutil.copy2(REPO / name, copy / name)
    venv = copy / ".venv/bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(os.path.realpath(sys.executable))
    for name, text in (("pip", PIP), ("invoke", INVOKE)):
        (venv / name).write_text(text)
        (venv / name).chmod(0o755)
    return copy


def run_setup(
    copy: Path, *tasks: str, missing: tuple[str, ...] = (), **statuses: str
) -> subprocess.CompletedProcess[str]:
    """./setup in copy, every host command it checks present as a stub but those missing, which a stub of
    apt-get installs; the stubs' exit statuses from statuses (PIP_STATUS, TASK_STATUS, APT_STATUS)."""
    bin_dir = copy.parent / "bin"
    bin_dir.mkdir()
    needs = [tool.need for tool in host_tools.table().values() if tool.needed_by in ("setup", "qemu")]
    stubs = {need: "#!/bin/sh\n" for need in needs if need[0] != "/" and need not in (*missing, "python3")}
    for name, text in {**stubs, **({"apt-get": APT_GET} if missing else {})}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    for name in HOST_COMMANDS:
        (bin_dir / name).symlink_to(str(shutil.which(name)))
    (bin_dir / "python3").symlink_to(os.path.realpath(sys.executable))
    environment = {"PATH": str(bin_dir), "TASKS": " ".join(tasks), **statuses}
    return subprocess.run(
        [str(copy / "setup"), *tasks], cwd=copy, capture_output=True, text=True, env=environment, timeout=60
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    files = [tool.need for tool in host_tools.table().values() if tool.needed_by == "setup" and tool.need[0] == "/"]
    if not all(Path(file).exists() for file in files):
        pytest.skip(f"this host lacks one of {', '.join(files)}, which ./setup would install")
    return checkout(tmp_path)


def calls(copy: Path) -> list[str]:
    return (copy / "calls.log").read_text().splitlines()


def stamped(copy: Path) -> bool:
    return any((copy / ".venv").glob(".installed-*"))


def test_tasks_run_while_the_dev_tools_install(copy: Path) -> None:
    done = run_setup(copy, "vm.up", "test.kernel")
    assert done.returncode == 0, done.stderr
    first, *meanwhile = calls(copy)
    assert first == "pip install -q -e ."
    assert sorted(meanwhile) == sorted(
        [f"pip install -q {' '.join(DEV_TOOLS)}", "invoke vm.up test.kernel before the dev tools"]
    )
    assert stamped(copy)


def test_a_failed_install_of_the_dev_tools_fails_setup_after_the_tasks(copy: Path) -> None:
    done = run_setup(copy, "vm.up", PIP_STATUS="1")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "error: installing the tools of the toolkit's tests into .venv failed (see .venv/dev-tools.log): "
        "run ./setup again"
    )
    assert "invoke vm.up before the dev tools" in calls(copy)
    assert not stamped(copy)


def test_a_failed_task_gives_its_status_and_the_dev_tools_are_still_installed(copy: Path) -> None:
    done = run_setup(copy, "test.kernel", TASK_STATUS="1")
    assert done.returncode == 1
    assert stamped(copy)


def test_without_tasks_the_dev_tools_install_before_setup_ends(copy: Path) -> None:
    done = run_setup(copy)
    assert done.returncode == 0, done.stderr
    assert calls(copy) == ["pip install -q -e .", f"pip install -q {' '.join(DEV_TOOLS)}"]
    assert stamped(copy)
    assert done.stdout.splitlines()[-1].startswith("[setup] done")


def test_a_second_setup_installs_nothing(copy: Path) -> None:
    assert run_setup(copy).returncode == 0
    (copy / "calls.log").unlink()
    shutil.rmtree(copy.parent / "bin")
    done = run_setup(copy, "vm.up")
    assert done.returncode == 0
    assert calls(copy) == ["invoke vm.up after the dev tools"]


@pytest.fixture
def as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("./setup installs packages only as root")


def test_missing_packages_install_while_the_environment_is_made_and_before_the_tasks(copy: Path, as_root: None) -> None:
    done = run_setup(copy, "vm.up", missing=("qemu-system-x86_64",))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("[setup] installing qemu-system-x86 (log: ")
    assert "apt-get update -q" in calls(copy)
    assert "apt-get install -y -q --no-install-recommends qemu-system-x86" in calls(copy)
    assert "apt-get install while the toolkit installs" in calls(copy)
    assert "invoke vm.up after the packages" in calls(copy)


def test_packages_that_could_not_install_are_an_error_before_any_task(copy: Path, as_root: None) -> None:
    done = run_setup(copy, "vm.up", missing=("qemu-system-x86_64",), APT_STATUS="100")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith("error: apt-get could not install qemu-system-x86 (log: ")
    assert done.stderr.splitlines()[-1].endswith("): fix what it says, then run ./setup again")
    assert not [call for call in calls(copy) if call.startswith("invoke")]
