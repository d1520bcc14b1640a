"""The command line on a real VM: vm.run's argv, vm.ssh -- CMD, vm.ssh-config for ssh, scp and rsync, vm.copy
both ways, and the installed `vexfs-vmtest` run from another directory; config.show.

One VM serves the whole module (it starts from the box's ready snapshot in seconds).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit import __version__
from toolkit.config import Settings
from toolkit.machines import registry

from .conftest import VEXFS_TESTS, qemu_processes_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
INVOKE = str(REPO / ".venv/bin/invoke")
NOISE = ("paramiko", "fabric", "invoke.", "Vagrant executable", "Traceback")


def invoke(*args: str, stdin: str | None = None, cwd: Path = REPO, timeout: float = 300,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run([INVOKE, "--search-root", str(REPO), *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env={**os.environ, **(env or {})})  # fmt: skip


def quiet(stderr: str) -> bool:
    """Nothing but the toolkit's own words: no library's log lines, no Vagrant warning."""
    return not any(noise in stderr for noise in NOISE)


@pytest.fixture(scope="module")
def vm(settings: Settings, box) -> Iterator[str]:  # noqa: ANN001
    name = f"e2e-cli-{uuid.uuid4().hex[:6]}"
    up = invoke("vm.up", "--name", name, timeout=900)
    assert up.returncode == 0, up.stderr
    yield name
    registry.destroy(settings, name)
    assert qemu_processes_for(name) == []


def test_vm_run_gives_the_guest_each_word_as_written(vm: str) -> None:
    done = invoke("vm.run", "-n", vm, "--", "printf", "%s|", "a b", "$HOME", "it's", "*")
    assert (done.returncode, done.stdout) == (0, "a b|$HOME|it's|*|"), done.stderr
    assert invoke("vm.run", "-n", vm, "--", "sh", "-c", "exit 3").returncode == 3
    root = invoke("vm.run", "-n", vm, "-s", "--", "id", "-u")
    assert (root.returncode, root.stdout, root.stderr) == (0, "0\n", "")


def test_vm_ssh_runs_the_command_after_dashes_over_openssh_with_stdin_and_exit_status(vm: str) -> None:
    done = invoke("vm.ssh", "--name", vm, "--", "printf", "%s|", "a b", "-v", "$(id)")
    assert (done.returncode, done.stdout) == (0, "a b|-v|$(id)|"), done.stderr
    assert quiet(done.stderr) and done.stderr == ""
    assert invoke("vm.ssh", "--name", vm, "--", "cat", stdin="to the guest\n").stdout == "to the guest\n"
    assert invoke("vm.ssh", "--name", vm, "--", "sh", "-c", "exit 5").returncode == 5


def test_ssh_config_serves_ssh_scp_and_rsync(vm: str, tmp_path: Path) -> None:
    printed = invoke("vm.ssh-config", "--name", vm)
    assert printed.returncode == 0 and printed.stdout.startswith(f"Host {vm}\n"), printed.stderr
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(printed.stdout)
    assert invoke("vm.ssh-config").stdout.count(f"Host {vm}\n") == 1, "without --name: every running VM"

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)

    assert run("ssh", "-F", str(ssh_config), vm, "id", "-un").stdout == "vagrant\n"
    sent = tmp_path / "sent.txt"
    sent.write_text("over scp\n")
    run("scp", "-F", str(ssh_config), str(sent), f"{vm}:/tmp/by-scp.txt")
    run("scp", "-F", str(ssh_config), f"{vm}:/tmp/by-scp.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "over scp\n"
    if shutil.which("rsync") and run("ssh", "-F", str(ssh_config), vm, "command -v rsync || true").stdout:
        run("rsync", "-e", f"ssh -F {ssh_config}", str(sent), f"{vm}:/tmp/by-rsync.txt")
        assert run("ssh", "-F", str(ssh_config), vm, "cat", "/tmp/by-rsync.txt").stdout == "over scp\n"


def test_vm_copy_copies_a_file_into_the_guest_and_out_of_it(vm: str, tmp_path: Path) -> None:
    sent = tmp_path / "odd name's.txt"
    sent.write_text("there and back\n")
    into = invoke("vm.copy", str(sent), ":/tmp/", "--name", vm)
    assert into.returncode == 0 and into.stdout == f"copied {sent} to {vm}:/tmp/odd name's.txt\n", into.stderr
    assert invoke("vm.run", "-n", vm, "--", "cat", "/tmp/odd name's.txt").stdout == "there and back\n"
    out = invoke("vm.copy", "--name", vm, ":/tmp/odd name's.txt", str(tmp_path / "back"))
    assert out.returncode == 0 and (tmp_path / "back").read_text() == "there and back\n", out.stderr
    home = invoke("vm.copy", "--name", vm, str(sent), ":")
    assert home.stdout.endswith(f"to {vm}:./odd name's.txt\n")
    assert invoke("vm.run", "-n", vm, "--", "test", "-f", "/home/vagrant/odd name's.txt").returncode == 0


@pytest.mark.parametrize(
    ("source", "destination", "fragment"),
    [
        (":/no/such/file", "{tmp}", ":/no/such/file: the guest has no such file"),
        ("{tmp}/sent", ":/no/such/dir/", ":/no/such/dir/: the guest has no folder /no/such/dir/"),
        ("{tmp}/missing", ":/tmp/", "{tmp}/missing: no such file"),
    ],
)
def test_copying_what_is_not_there_is_one_line_and_exit_status_2(vm: str, tmp_path: Path, source: str,
                                                                  destination: str, fragment: str) -> None:  # fmt: skip
    (tmp_path / "sent").write_text("x")
    done = invoke("vm.copy", "--name", vm, source.format(tmp=tmp_path), destination.format(tmp=tmp_path))
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("error: ") and fragment.format(tmp=tmp_path) in line


def _installed(tmp_path: Path) -> Path:
    """vexfs-vmtest installed as pipx would, from a copy of the package (pip would write build files here)."""
    source = tmp_path / "source"
    shutil.copytree(REPO / "toolkit", source / "toolkit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", source)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run([str(venv / "bin/pip"), "install", "-q", str(source)], capture_output=True, text=True,
                         timeout=900)  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-3000:]
    return venv / "bin" / "vexfs-vmtest"


def test_the_installed_command_runs_from_any_directory_and_its_results_land_where_the_config_says(
    vm: str, tmp_path: Path
) -> None:
    program = _installed(tmp_path)
    project = tmp_path / "project"
    (project / "deep").mkdir(parents=True)
    (project / "vmtest.toml").write_text('results_dir = "out"\n')
    env = {key: value for key, value in os.environ.items() if key != "VEXFS_RESULTS_DIR"}

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(program), *args], capture_output=True, text=True, timeout=timeout,
                              cwd=project / "deep", env=env)  # fmt: skip

    assert run("--version").stdout == f"vexfs-vmtest {__version__}\n"
    listed = run("--list").stdout
    assert all(task in listed for task in ("test.kernel", "vm.ssh-config", "vm.copy", "config.show"))
    assert json.loads(run("config.show", "--json").stdout)["files"] == [str(project / "vmtest.toml")]
    done = run("test.kernel", "--name", vm, "-m", str(REPO / "kernel/vexfs"), "--cycles", "2", timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"{VEXFS_TESTS} passed, 0 failed, 0 error, 0 skipped" in done.stdout
    assert f"results: {project / 'out'}/" in done.stdout
    latest = project / "out" / "latest"
    assert (latest / "results.json").is_file() and (latest / "6.1" / "build.log").is_file()
    assert not (latest / "6.1" / "src").exists(), "the build tree stays only with --keep-build"
    assert "concurrency: running for 5 s" in done.stderr, "a test of 15 s says it is still running"
    assert quiet(done.stderr), done.stderr
    assert "\033[" not in done.stderr, "no colour outside a terminal"
    assert not (tmp_path / "project" / "deep" / "results").exists()


def test_config_show_says_where_each_setting_came_from(tmp_path: Path) -> None:
    (tmp_path / "xdg" / "vexfs-vmtest").mkdir(parents=True)
    (tmp_path / "xdg" / "vexfs-vmtest" / "vmtest.toml").write_text('mirror = "http://mirror.example/debian"\n')
    (tmp_path / "project" / "src").mkdir(parents=True)
    (tmp_path / "project" / "vmtest.toml").write_text('kernel = "6.12"\ncpus = 1\nresults_dir = "runs"\n'
                                                      '[[known_failure]]\ntest = "unload"\nreason = "oops in exit"\n')  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key != "VEXFS_RESULTS_DIR"}
    env |= {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "VEXFS_CPUS": "2"}
    done = subprocess.run([INVOKE, "--search-root", str(REPO), "config.show", "--json", "--debug", "off"],
                          capture_output=True, text=True, cwd=tmp_path / "project" / "src", env=env, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = {row["setting"]: (row["value"], row["from"]) for row in json.loads(done.stdout)["settings"]}
    assert json.loads(done.stdout)["known_failures"] == ["unload on every kernel: oops in exit"]
    project_file = str(tmp_path / "project" / "vmtest.toml")
    assert shown["kernel"] == ("6.12", project_file)
    assert shown["cpus"] == ("2", "VEXFS_CPUS")
    assert shown["debug"] == ("off", "command line")
    assert shown["mirror"] == ("http://mirror.example/debian", str(tmp_path / "xdg" / "vexfs-vmtest" / "vmtest.toml"))
    assert shown["results_dir"] == (str(tmp_path / "project" / "runs"), project_file)
    assert shown["memory_mib"] == ("2048", "default")
    table = subprocess.run([INVOKE, "--search-root", str(REPO), "config.show"], capture_output=True, text=True,
                           cwd=tmp_path / "project" / "src", env=env, timeout=60).stdout  # fmt: skip
    assert f"settings files read: {tmp_path / 'xdg/vexfs-vmtest/vmtest.toml'}, {project_file}" in table
    assert f"known failures (1, from {project_file}):\n  unload on every kernel: oops in exit\n" in table
