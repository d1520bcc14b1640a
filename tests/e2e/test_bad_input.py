"""Mistakes a user can fix: one line saying what and how, exit status 2, no traceback, nothing started or written.

Each row runs the real `invoke` (or `nox -s kernel-matrix`) in a private environment: its own
state, cache and results folders, a working directory holding what the row writes there
(vmtest.toml, results, VM records), and no qemu or mmdebstrap on PATH, so a row whose check
came too late fails on a missing tool instead of booting a VM or building a box.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
INVOKE = str(REPO / ".venv/bin/invoke")
NOX = str(REPO / ".venv/bin/nox")
PROGRAM = str(REPO / ".venv/bin/vexfs-vmtest")
MODULE = str(REPO / "kernel/vexfs")
VERSION1 = REPO / "tests/unit/fixtures/results/version1.json"


def _vm_record(name: str) -> str:
    record = {"name": name, "provider": "qemu", "kernel_line": "6.1", "box": "/nonexistent/bookworm-0", "accel": "tcg",
              "cpus": 2, "memory_mib": 2048, "created": "2026-11-27T12:00:00+00:00"}  # fmt: skip
    return json.dumps(record)


def _broken_results() -> str:
    data = json.loads(VERSION1.read_text())
    data["runs"][0]["tests"][0]["status"] = "green"
    return json.dumps(data)


ONE_RUN = {"results/good/results.json": VERSION1.read_text(), "results/latest": "->good"}
TRUNCATED = {"results/cut/results.json": VERSION1.read_text()[:300], "results/latest": "->cut"}
CORRUPT_VMS = {
    "state/vms/good/machine.json": _vm_record("good"),
    "state/vms/broken/machine.json": "{garbage",
    "state/vms/partial/machine.json": json.dumps({"name": "partial", "kernel_line": "6.1"}),
}


@dataclass(frozen=True)
class Row:
    """One command line and what it must say; paths in args and env may use {tmp}, the row's private folder."""

    args: tuple[str, ...]
    fragment: str
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # under {tmp}; "->target" makes a symlink
    status: int = 2
    stdout: tuple[str, ...] = ()  # must appear on stdout too
    broken_results: bool = False  # files hold a results.json that breaks the contract on purpose

    @property
    def marks(self) -> list[pytest.MarkDecorator]:
        return [pytest.mark.breaks_results_on_purpose] if self.broken_results else []


ROWS = {
    # settings: vmtest.toml, environment, flags
    "toml-cpus-float": Row(("vm.status",), "cpus = 2.7 in {tmp}/work/vmtest.toml is not a whole number", files={"work/vmtest.toml": "cpus = 2.7\n"}),
    "toml-cpus-bool": Row(("vm.status",), "cpus = true in {tmp}/work/vmtest.toml is not a whole number", files={"work/vmtest.toml": "cpus = true\n"}),
    "toml-memory-float": Row(("vm.status",), "memory_mib = 4096.9 in {tmp}/work/vmtest.toml is not a whole number", files={"work/vmtest.toml": "memory_mib = 4096.9\n"}),
    "toml-provider-xen": Row(("test.kernel", "--module-dir", MODULE), "unknown provider 'xen': choose one of qemu, vagrant", files={"work/vmtest.toml": 'provider = "xen"\n'}),
    "toml-kernel-float": Row(("test.kernel", "--module-dir", MODULE), 'write it as a string: kernel = "5.10"', files={"work/vmtest.toml": "kernel = 5.10\n"}),
    "toml-unknown-setting": Row(("vm.status",), "unknown setting 'cpu' in {tmp}/work/vmtest.toml", files={"work/vmtest.toml": "cpu = 2\n"}),
    "env-cpus-float": Row(("vm.status",), "VEXFS_CPUS='2.7' in the environment is not a whole number", env={"VEXFS_CPUS": "2.7"}),
    "env-memory-text": Row(("vm.status",), "VEXFS_MEMORY_MIB='lots' in the environment is not a whole number", env={"VEXFS_MEMORY_MIB": "lots"}),
    "env-unknown-warns": Row(("vm.status",), "warning: ignoring VEXFS_CPU: not a setting (did you mean VEXFS_CPUS?)", env={"VEXFS_CPU": "4"}, status=0, stdout=("no VMs",)),
    "quiet-without-vagrant-program": Row(("vexfs-vmtest", "vm.status"), "", status=0, stdout=("no VMs",)),
    "quiet-without-vagrant-matrix": Row(("nox", "--help"), "", status=0, stdout=("--kernels",)),
    "env-vagrant-variables-quiet": Row(("vm.status",), "", env={"VEXFS_VM_NAME": "x", "VEXFS_VM_DIR": "/x", "VEXFS_BOX": "b", "VEXFS_SSH_KEY": "/k", "VEXFS_LIBVIRT_DRIVER": "qemu"}, status=0, stdout=("no VMs",)),
    "env-results-dir-is-a-file": Row(("test.kernel", "--module-dir", MODULE), "results_dir {tmp}/afile is a file: point results_dir", env={"VEXFS_RESULTS_DIR": "{tmp}/afile"}, files={"afile": ""}),
    "kernel-unknown": Row(("vm.up", "--kernel", "4.4"), "unknown kernel line '4.4'"),
    "kernel-unknown-test": Row(("test.kernel", "--module-dir", MODULE, "--kernel", "4.4"), "unknown kernel line '4.4'", files=ONE_RUN),
    "kernel-unknown-box": Row(("box.build", "--kernel", "nope"), "unknown kernel line 'nope'"),
    "provider-unknown": Row(("vm.up", "--provider", "hyperv"), "unknown provider 'hyperv'"),
    "qemu-missing": Row(("vm.up", "--name", "noqemu"), "qemu-system-x86_64 not found: run ./setup as root, or install qemu-system-x86 (Debian/Ubuntu)"),
    # task options
    "cycles-not-a-number": Row(("test.kernel", "--module-dir", MODULE, "--cycles", "abc"), "--cycles must be a whole number, not 'abc'"),
    "lines-not-a-number": Row(("vm.console", "--lines", "abc"), "--lines must be a whole number, not 'abc'"),
    "lines-negative": Row(("vm.console", "--lines", "-2"), "--lines must be 0 (all) or more, not -2"),
    "module-param-last-without-value": Row(("test.kernel", "--module-dir", MODULE, "--module-param"), "--module-param needs a value: write `--module-param VALUE`"),
    "module-param-before-a-flag": Row(("test.kernel", "--module-param", "--cycles", "3", "--module-dir", MODULE), "--module-param needs a value"),
    "module-param-not-name-value": Row(("test.kernel", "--module-dir", MODULE, "--module-param", "a b=1"), "module parameter 'a b=1' is not NAME=VALUE, nor NAME for a bool: 'a b' is not a parameter name"),
    "module-dir-missing": Row(("test.kernel", "--module-dir", "/nonexistent/mod"), "module directory /nonexistent/mod does not exist"),
    "module-dir-a-file": Row(("test.kernel", "--module-dir", "/etc/passwd"), "module directory /etc/passwd is not a directory"),
    "module-dir-without-kbuild": Row(("test.kernel", "--module-dir", str(REPO / "tests/e2e")), "has no Makefile or Kbuild"),
    "build-in-unknown": Row(("test.kernel", "--module-dir", MODULE, "--build-in", "cloud"), "--build-in must be one of chroot, guest"),
    "name-without-value": Row(("vm.run", "--name"), "--name needs a value"),
    "option-of-another-domain": Row(("test.kernel", "--module-dir", MODULE, "--fs-type", "ext4"), "no idea what '--fs-type' is: see `invoke --help test.kernel`"),
    "option-of-a-domain-left-out": Row(("test.all", "--module-dir", MODULE, "--domains", "kernel_module", "--fs-type", "ext4"), "--fs-type: no domain of this run (kernel_module) takes it; add its domain with --domains"),
    "domain-unknown": Row(("test.all", "--module-dir", MODULE, "--domains", "net"), "unknown domain 'net': choose one of filesystem, kernel_module"),
    "invoke-core-option-not-ours": Row(("vexfs-vmtest", "-R", "vm.status"), "no idea what '-R' is: see `vexfs-vmtest --list`"),
    # settings files
    "config-missing": Row(("config.show", "--config", "{tmp}/nope.toml"), "--config {tmp}/nope.toml: no such settings file ({tmp}/nope.toml)"),
    "config-missing-relative": Row(("test.kernel", "--config", "nope.toml"), "--config nope.toml: no such settings file ({tmp}/work/nope.toml)"),
    "env-config-missing": Row(("vm.status",), "VEXFS_CONFIG {tmp}/gone.toml: no such settings file", env={"VEXFS_CONFIG": "{tmp}/gone.toml"}),
    "config-found-upward-is-read": Row(("vm.status",), "cpus = 2.7 in {tmp}/vmtest.toml is not a whole number", files={"vmtest.toml": "cpus = 2.7\n"}),
    "user-config-is-read": Row(("vm.status",), "cpus = 0.5 in {tmp}/xdg/vexfs-vmtest/vmtest.toml is not a whole number", env={"XDG_CONFIG_HOME": "{tmp}/xdg"}, files={"xdg/vexfs-vmtest/vmtest.toml": "cpus = 0.5\n"}),
    # reaching a guest
    "copy-missing-file": Row(("vm.copy", "{tmp}/nope.ko", ":/tmp/"), "{tmp}/nope.ko: no such file"),
    "copy-without-a-guest-side": Row(("vm.copy", "a.ko", "b.ko"), "one side of vm.copy is the guest's, written :PATH"),
    "copy-without-a-vm": Row(("vm.copy", "{tmp}/work", ":/tmp/"), "is a folder: vm.copy copies one file"),
    "ssh-without-dashes": Row(("vm.ssh", "uname", "-r"), "write `invoke vm.ssh -- uname -r`"),
    "ssh-config-nothing-running": Row(("vm.ssh-config",), "no VM is running: start one with `invoke vm.up`", files=CORRUPT_VMS),
    "ssh-config-vm-unknown": Row(("vm.ssh-config", "--name", "nope"), "no VM called 'nope'"),
    # the installed command
    "program-flag-unknown": Row(("vexfs-vmtest", "test.kernel", "--bogus"), "no idea what '--bogus' is: see `vexfs-vmtest --help test.kernel`"),
    "program-config-missing": Row(("vexfs-vmtest", "--config", "{tmp}/nope.toml", "vm.status"), "--config {tmp}/nope.toml: no such settings file"),
    "program-task-unknown": Row(("vexfs-vmtest", "vm.sshh"), "no idea what 'vm.sshh' is: see `vexfs-vmtest --list`"),
    # invoke's own parser
    "flag-unknown": Row(("test.kernel", "--bogus"), "no idea what '--bogus' is: see `invoke --help test.kernel`"),
    "task-unknown": Row(("no.such.task",), "no idea what 'no.such.task' is: see `invoke --list`"),
    "vm-run-without-dashes": Row(("vm.run", "uname", "-r"), "write `invoke vm.run -- uname -r`"),
    "vm-run-without-command": Row(("vm.run", "--name", "no-such-vm"), "no command"),
    # VMs
    "vm-unknown": Row(("vm.run", "--name", "no-such-vm", "--", "true"), "no VM called 'no-such-vm'"),
    "vm-corrupt-listed": Row(("vm.status",), "", files=CORRUPT_VMS, status=0, stdout=("halted", "broken: corrupt", "partial: corrupt", "remove it with `invoke vm.destroy --name broken`")),
    "vm-corrupt-run": Row(("vm.run", "--name", "broken", "--", "true"), "VM 'broken' has a corrupt record", files=CORRUPT_VMS),
    "vm-missing-keys-console": Row(("vm.console", "--name", "partial"), "(no 'provider'): remove it with `invoke vm.destroy --name partial`", files=CORRUPT_VMS),
    # results
    "run-unknown": Row(("results.show", "--run", "no-such-run"), "no results for run 'no-such-run'"),
    "format-unknown": Row(("results.export", "--format", "xml"), "unknown format 'xml'"),
    "output-unwritable": Row(("results.export", "--output", "/proc/no/such/file"), "cannot write /proc/no/such/file", files=ONE_RUN),
    "results-truncated-show": Row(("results.show",), "is not valid JSON", files=TRUNCATED, broken_results=True),
    "results-truncated-export": Row(("results.export", "--format", "junit"), "is not valid JSON", files=TRUNCATED, broken_results=True),
    "results-truncated-diff": Row(("results.diff", "cut"), "is not valid JSON", files=TRUNCATED, broken_results=True),
    "results-off-contract": Row(("results.show", "--run", "bad"), "does not follow the result contract", files={"results/bad/results.json": _broken_results()}, broken_results=True),
    "diff-without-runs": Row(("results.diff",), "no run to compare: `invoke results.diff RUN_A [RUN_B]`"),
    # hostile values: numbers past their bounds, selections naming nothing, folders that cannot hold files, a VM
    # bigger than the host (more than any host this runs on has: 1000000 MiB)
    "cycles-huge": Row(("test.kernel", "--module-dir", MODULE, "--cycles", "99999999999999999999"), "--cycles must be at most 100000, not 99999999999999999999"),
    "stress-seconds-huge": Row(("test.fs", "--stress-seconds", "99999999999999999999"), "--stress-seconds must be at most 86400, not 99999999999999999999"),
    "repeat-huge": Row(("test.kernel", "--module-dir", MODULE, "--repeat", "99999999999999999999"), "--repeat must be at most 1000"),
    "matrix-jobs-huge": Row(("nox", "--jobs", "99999999999999999999"), "--jobs must be at most 64, not 99999999999999999999"),
    "matrix-cycles-not-a-number": Row(("nox", "--cycles", "x"), "--cycles must be a whole number, not 'x'"),
    "kernel-build-jobs-zero": Row(("kernel.build", "-j", "0"), "--jobs must be between 1 and"),
    "kernel-build-jobs-negative": Row(("kernel.build", "--jobs", "-3"), "not -3: leave it out for one job per CPU"),
    "kernel-build-jobs-huge": Row(("kernel.build", "-j", "99999999999999999999"), "not 99999999999999999999: leave it out"),
    "env-cpus-huge": Row(("vm.up",), "cpus 100000 is too many: a test VM gets at most 64 vCPUs", env={"VEXFS_CPUS": "100000"}),
    "toml-cpus-huge": Row(("test.kernel", "--module-dir", MODULE), "cpus 100000 is too many", files={"work/vmtest.toml": "cpus = 100000\n"}),
    "env-memory-huge": Row(("vm.status",), "memory_mib 99999999999999999999 is too much", env={"VEXFS_MEMORY_MIB": "99999999999999999999"}),
    "env-memory-beyond-the-host": Row(("vm.up",), "a VM needs 1000000 MiB and the host keeps", env={"VEXFS_MEMORY_MIB": "1000000"}),
    "env-memory-beyond-the-host-test": Row(("test.fs", "--fs-type", "tmpfs"), "a VM needs 1000000 MiB", env={"VEXFS_MEMORY_MIB": "1000000"}),
    "matrix-memory-beyond-the-host": Row(("nox",), "a VM needs 1000000 MiB", env={"VEXFS_MEMORY_MIB": "1000000"}),
    "env-boot-timeout-infinite": Row(("vm.status",), "boot_timeout_s must be a positive number of seconds, got inf", env={"VEXFS_BOOT_TIMEOUT_S": "9" * 400}),
    "env-boot-timeout-exponent": Row(("vm.status",), "VEXFS_BOOT_TIMEOUT_S='1e999' in the environment is not a number", env={"VEXFS_BOOT_TIMEOUT_S": "1e999"}),
    "run-timeout-beyond-a-day": Row(("vm.run", "--timeout", "99999999999", "--", "true"), "command_timeout_s 1e+11 is more than a day"),
    "only-empty": Row(("test.kernel", "--module-dir", MODULE, "--only", ""), "--only '' names no test: name one or more of build"),
    "only-commas": Row(("test.fs", "--only", " , "), "--only ' , ' names no test"),
    "matrix-only-empty": Row(("nox", "--only", ""), "--only '' names no test"),
    "matrix-kernels-empty": Row(("nox", "--kernels", ""), "no kernel line given"),
    "matrix-hosts-empty": Row(("nox", "--hosts", " , "), "--hosts ' , ' names no libvirt host"),
    "env-results-dir-in-proc": Row(("test.kernel", "--module-dir", MODULE), "results_dir /proc/x cannot be written: /proc is the kernel's pseudo-filesystem", env={"VEXFS_RESULTS_DIR": "/proc/x"}),
    "env-cache-dir-is-a-file": Row(("box.list",), "cache_dir /etc/passwd is a file: point cache_dir", env={"VEXFS_CACHE_DIR": "/etc/passwd"}),
    "env-state-dir-is-a-file": Row(("vm.status",), "state_dir /etc/passwd is a file: point state_dir", env={"VEXFS_STATE_DIR": "/etc/passwd"}),
    "env-state-dir-under-a-file": Row(("vm.status",), "state_dir {tmp}/afile/state cannot be made: {tmp}/afile is a file", env={"VEXFS_STATE_DIR": "{tmp}/afile/state"}, files={"afile": ""}),
    "env-cache-dir-in-sys": Row(("vm.up",), "cache_dir /sys/x cannot be written: /sys is the kernel's pseudo-filesystem", env={"VEXFS_CACHE_DIR": "/sys/x"}),
    "copy-out-to-proc": Row(("vm.copy", ":/etc/hostname", "/proc/forbidden"), "/proc/forbidden cannot be written: /proc is the kernel's pseudo-filesystem"),
    "copy-a-device": Row(("vm.copy", "/dev/null", ":/tmp/"), "/dev/null: is not a regular file"),
    "copy-name-too-long": Row(("vm.copy", "{tmp}/" + "n" * 300, ":/tmp/"), "File name too long"),
    # VM names: every task checks them first; nothing outside vms/<name>/ is touched
    "vm-name-empty-up": Row(("vm.up", "--name", ""), "VM name '' is not allowed: use 1 to 40 letters, digits"),
    "vm-name-dot-destroy": Row(("vm.destroy", "--name", "."), "VM name '.' is not allowed", files=CORRUPT_VMS),
    "vm-name-empty-destroy": Row(("vm.destroy", "--name", ""), "VM name '' is not allowed", files=CORRUPT_VMS),
    "vm-name-dotdot-destroy": Row(("vm.destroy", "--name", ".."), "VM name '..' is not allowed", files=CORRUPT_VMS),
    "vm-name-climbs-out": Row(("vm.up", "--name", "../../etc"), "VM name '../../etc' is not allowed"),
    "vm-name-parent-test": Row(("test.kernel", "--name", "../x", "--module-dir", MODULE), "VM name '../x' is not allowed"),
    "vm-name-slash": Row(("vm.up", "--name", "a/b"), "VM name 'a/b' is not allowed"),
    "vm-name-huge": Row(("vm.up", "--name", "n" * 300), "is not allowed: use 1 to 40 letters"),
    "vm-name-flag-like": Row(("vm.up", "--name=-x"), "VM name '-x' is not allowed"),
    "vm-name-quotes-spaces": Row(("vm.run", "--name", "a 'b\"", "--", "true"), "is not allowed"),
    "vm-name-status-empty": Row(("vm.status", "--name", ""), "VM name '' is not allowed", files=CORRUPT_VMS),
    "vm-name-matrix-own": Row(("vm.up", "--name", "matrix-6.1"), "starts with 'matrix-', which names the VMs of a matrix run"),
    "vm-name-second-guest": Row(("test.kernel", "--name", "apart-x"), "starts with 'apart-', which names the VMs of a test run's second guest"),
    "vm-name-socket-too-long": Row(("vm.up", "--name", "n" * 40), "a socket's path takes at most 107", env={"VEXFS_STATE_DIR": "{tmp}/" + "s" * 70}),
    "matrix-name-slash": Row(("nox", "--name", "a/b"), "VM name 'a/b' is not allowed"),
    # the matrix's task (test.matrix), through nox
    "matrix-flag-unknown": Row(("nox", "--bogus"), "no idea what '--bogus' is: see `vexfs-vmtest --help test.matrix`"),
    "matrix-jobs-not-a-number": Row(("nox", "--jobs", "abc"), "--jobs must be a whole number, not 'abc'"),
    "matrix-jobs-zero": Row(("nox", "--jobs", "0"), "--jobs must be at least 1, not 0"),
    "matrix-option-of-a-domain-left-out": Row(("nox", "--domains", "kernel_module", "--mount-cycles", "3"), "--mount-cycles: no domain of this run (kernel_module) takes it"),
    "matrix-config-missing": Row(("nox", "--config", "{tmp}/nope.toml"), "--config {tmp}/nope.toml: no such settings file"),
    "matrix-flag-abbreviated": Row(("nox", "--kern", "6.1"), "no idea what '--kern' is"),
    "matrix-module-param-without-value": Row(("nox", "--module-param"), "--module-param needs a value: write `--module-param VALUE`"),
    "matrix-kernel-unknown": Row(("nox", "--kernels", "4.4"), "unknown kernel line '4.4'"),
    # a kernel of the user's: --kernel-tree, --kernel-image
    "kernel-tree-missing": Row(("test.kernel", "--module-dir", MODULE, "--kernel-tree", "{tmp}/linux"), "--kernel-tree '{tmp}/linux' is not a folder: give the path of a kernel source tree"),
    "kernel-tree-no-makefile": Row(("vm.up", "--kernel-tree", "{tmp}/work"), "--kernel-tree '{tmp}/work' is not a kernel source tree (no Makefile with VERSION =)"),
    "kernel-tree-makefile-no-version": Row(("test.fs", "--kernel-tree", "{tmp}/linux"), "is not a kernel source tree (no Makefile with VERSION =): give the top folder", files={"linux/Makefile": "all:\n\ttrue\n"}),
    "kernel-tree-empty": Row(("test.kernel", "--module-dir", MODULE, "--kernel-tree", ""), "--kernel-tree is empty: give the path of a kernel source tree"),
    "kernel-tree-spaces": Row(("test.kernel", "--module-dir", MODULE, "--kernel-tree", "{tmp}/my linux"), "has white space, which Kbuild cannot build in", files={"my linux/Makefile": "VERSION = 6\n"}),
    "kernel-tree-dotdot": Row(("test.all", "--module-dir", MODULE, "--kernel-tree", "{tmp}/work/../linux"), "goes up with '..': give the tree's path without it", files={"linux/Makefile": "VERSION = 6\n"}),
    "kernel-tree-and-kernel": Row(("test.kernel", "--module-dir", MODULE, "--kernel", "6.1", "--kernel-tree", "{tmp}/linux"), "--kernel and --kernel-tree/--kernel-image each name the VM's kernel: give one of them", files={"linux/Makefile": "VERSION = 6\nPATCHLEVEL = 6\n"}),
    "kernel-image-missing": Row(("test.kernel", "--module-dir", MODULE, "--kernel-image", "{tmp}/linux-image.deb"), "--kernel-image '{tmp}/linux-image.deb' does not exist: give .deb files or a folder of them"),
    "kernel-image-empty": Row(("vm.up", "--kernel-image", ""), "--kernel-image is empty: give .deb files or a folder of them"),
    "kernel-image-rpm": Row(("test.kernel", "--module-dir", MODULE, "--kernel-image", "{tmp}/kernel-6.12.rpm"), "is not a .deb package: only Debian packages are taken", files={"kernel-6.12.rpm": "rpm"}),
    "kernel-image-not-a-deb": Row(("test.kernel", "--module-dir", MODULE, "--kernel-image", "{tmp}/linux-image-6.12.deb"), "is not a .deb package (no Debian archive inside)", files={"linux-image-6.12.deb": "text"}),
    "kernel-image-folder-without-debs": Row(("test.kernel", "--module-dir", MODULE, "--kernel-image", "{tmp}/work"), "is a folder without .deb files: give the folder of the kernel's linux-image and linux-headers packages"),
    "kernel-image-dotdot": Row(("test.kernel", "--module-dir", MODULE, "--kernel-image", "{tmp}/work/../x.deb"), "goes up with '..': give the path without it"),
    "matrix-kernel-tree-missing": Row(("nox", "--kernels", "6.1", "--kernel-tree", "/nonexistent/linux"), "--kernel-tree '/nonexistent/linux' is not a folder"),
}  # fmt: skip


def _private(tmp: Path, row: Row) -> dict[str, str]:
    """The row's environment: the caller's without any VEXFS_* variable, private folders, no VM tools."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("VEXFS_")}
    environ |= {
        "PATH": "/nonexistent",
        "VEXFS_STATE_DIR": str(tmp / "state"),
        "VEXFS_CACHE_DIR": str(tmp / "cache"),
        "VEXFS_RESULTS_DIR": str(tmp / "results"),
        "XDG_CONFIG_HOME": str(tmp / "config"),
    }
    return environ | {key: value.format(tmp=tmp) for key, value in row.env.items()}


def _lay_out(tmp: Path, files: dict[str, str]) -> None:
    (tmp / "work").mkdir()
    for name, text in files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if text.startswith("->"):
            path.symlink_to(text[2:])
        else:
            path.write_text(text)


def _left(tmp: Path) -> dict[str, str]:
    """What a command could leave behind: anything under results/ (a run folder, `latest` by its target),
    any file but a lock under state/ and cache/ (a VM record, an overlay, a box)."""
    found = {}
    for path in tmp.rglob("*"):
        top = path.relative_to(tmp).parts[0]
        if path.is_symlink():
            found[str(path.relative_to(tmp))] = f"-> {os.readlink(path)}"
        elif top == "results" or (top in ("state", "cache") and path.is_file() and not path.name.endswith("lock")):
            found[str(path.relative_to(tmp))] = "dir" if path.is_dir() else "file"
    return found


def _run(tmp: Path, row: Row) -> subprocess.CompletedProcess[str]:
    args = [arg.format(tmp=tmp) for arg in row.args]
    if args[0] == "nox":
        command = [NOX, "-f", str(REPO / "noxfile.py"), "-s", "kernel-matrix", "--", *args[1:]]
    elif args[0] == "vexfs-vmtest":
        command = [PROGRAM, *args[1:]]
    else:
        command = [INVOKE, "--search-root", str(REPO), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=_private(tmp, row), cwd=tmp / "work")


def _said(stderr: str, row: Row) -> list[str]:
    """stderr's lines, without those nox opens and closes a session with (`nox > Running session kernel-matrix`,
    `nox > Session kernel-matrix was successful.`): any other line of nox's (`nox > uv binary not found.`) is one
    too many."""
    framing = ("nox > Running session ", "nox > Session kernel-matrix was successful.")
    return [line for line in stderr.splitlines() if not (row.args[0] == "nox" and line.startswith(framing))]


@pytest.mark.parametrize("row", [pytest.param(row, id=name, marks=row.marks) for name, row in ROWS.items()])
def test_bad_input_says_what_and_how_in_one_line_and_leaves_nothing(tmp_path: Path, row: Row) -> None:
    _lay_out(tmp_path, row.files)
    before = _left(tmp_path)
    done = _run(tmp_path, row)
    said = _said(done.stderr, row)
    assert "Traceback" not in done.stderr
    assert done.returncode == row.status, done.stderr
    if row.fragment:
        assert len(said) == 1, done.stderr
        assert row.fragment.format(tmp=tmp_path) in said[0]
        assert said[0].startswith("warning: " if row.status == 0 else "error: ")
    else:
        assert said == []
    assert all(fragment in done.stdout for fragment in row.stdout), done.stdout
    assert _left(tmp_path) == before, "the command left something behind (a run folder, `latest`, a VM, a box)"


def _invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INVOKE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=REPO,
    )


def _two_runs(later: str) -> dict[str, str]:
    """Runs a and b (the latest) of the same module, b's load test ending as later."""
    files = {"results/latest": "->b"}
    for run, status in (("a", "passed"), ("b", later)):
        data = json.loads(VERSION1.read_text())
        data["run_id"] = run
        data["runs"][0]["tests"][1]["status"] = status
        files[f"results/{run}/results.json"] = json.dumps(data)
    return files


@pytest.mark.parametrize(
    ("later", "args", "status"),
    [
        ("passed", ("a", "b"), 0),
        ("failed", ("a", "b"), 1),
        ("error", ("a",), 1),
        ("skipped", ("--run-a", "a", "--run-b", "b"), 0),
        ("failed", ("b", "a"), 0),
    ],
)
def test_results_diff_takes_run_ids_in_order_and_exits_1_when_a_test_broke(
    tmp_path: Path, later: str, args: tuple[str, ...], status: int
) -> None:
    _lay_out(tmp_path, _two_runs(later))
    done = _run(tmp_path, Row(("results.diff", *args), ""))
    assert done.returncode == status, done.stderr
    assert done.stderr == ""
    if later != "passed":
        assert "load" in done.stdout and later in done.stdout
    assert ("went from passed to failed, error or flaky" in done.stdout) == (status == 1)


def test_no_disk_space_for_a_box_is_refused_before_building(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for the cache needs root")
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
    cache = tmp_path / "cache"
    done = _invoke("box.build", env={"VEXFS_CACHE_DIR": str(cache), "VEXFS_MIRROR": "http://127.0.0.1:9/debian"})
    assert done.returncode == 2
    assert "error: box build failed at mmdebstrap:" in done.stderr and "full log:" in done.stderr
    assert "Traceback" not in done.stderr
    assert [p.name for p in (cache / "boxes").iterdir() if not p.name.endswith(".lock")] == []


def test_results_prune_and_box_prune_remove_what_killed_runs_left_and_nothing_else(tmp_path: Path) -> None:
    stale = {"name": "bookworm-000000000000", "kernel_line": "6.1", "suite": "bookworm", "built": "2001-01-01T00:00:00+00:00",
             "kernel_release": "6.1.0-1-amd64", "kernel_package_version": "6.1.1-1"}  # fmt: skip
    kept = "20261201-090000-aaaa"
    _lay_out(tmp_path, {
        f"results/{kept}/results.json": VERSION1.read_text(),
        f"results/{kept}/.results.json.x8k2a1": "{half",
        "results/latest": f"->{kept}",
        "results/.latest.999999999": f"->{kept}",
        "results/20261201-101010-dead/6.1/build.log": "make: *** killed\n",
        "cache/boxes/bookworm-000000000000/box.json": json.dumps(stale),
        "cache/boxes/.building-sid-fecf2ddfe257-999999999/rootfs/etc/hostname": "half\n",
        "cache/logs/box-trixie-gone00000000.log": "E: mmdebstrap failed\n",
        "cache/kernels/6.1-debug-000000000000/build.log": "old fragments\n",
    })  # fmt: skip
    results = _run(tmp_path, Row(("results.prune", "--keep", "5"), ""))
    assert (results.returncode, results.stderr) == (0, "")
    assert results.stdout.splitlines() == [
        "removed run 20261201-101010-dead (it recorded nothing)",
        f"removed {kept}/.results.json.x8k2a1, left half-written by a killed run",
        "removed .latest.999999999, left half-written by a killed run",
    ]
    boxes = _run(tmp_path, Row(("box.prune",), ""))
    assert (boxes.returncode, boxes.stderr) == (0, "")
    assert sorted(boxes.stdout.splitlines()) == [
        "removed build log of box trixie-gone00000000, which is gone",
        "removed half-built box sid-fecf2ddfe257",
        "removed outdated kernel build kernels/6.1-debug-000000000000",
        "removed stale box bookworm-000000000000 (kernel 6.1)",
    ]
    assert sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()) == []
    assert sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "results").rglob("*")) == [
        "results/20261201-090000-aaaa",
        "results/20261201-090000-aaaa/results.json",
        "results/latest",
    ]
