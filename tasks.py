"""Invoke tasks: parse arguments, call the toolkit, print. `invoke --list` shows them all."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from invoke import Collection, task
from invoke.exceptions import Exit
from tabulate import tabulate

from toolkit import config, domains, kernels, machines, runs
from toolkit.boxes import build, store
from toolkit.boxes import vagrant as vagrant_box
from toolkit.boxes.recipe import BoxRecipe
from toolkit.cli import remainder, user_facing
from toolkit.domains.options import flags
from toolkit.results import reports
from toolkit.results import store as results_store

NAME_HELP = "VM name (default: default); several VMs can run side by side"
PROVIDER_HELP = "qemu (default) or vagrant"
KERNEL_HELP = f"kernel line, by version or Debian suite: {', '.join(line.name for line in kernels.CATALOGUE)}"


def _settings(**flags: object) -> config.Settings:
    return config.load(flags)


@task(
    help={
        "kernel": KERNEL_HELP,
        "name": NAME_HELP,
        "provider": PROVIDER_HELP,
        "cold": "boot the kernel instead of resuming the box's ready snapshot",
    }
)
@user_facing
def vm_up(c, kernel=None, name="default", provider=None, cold=False):
    """Start a VM from its box's ready snapshot (booting it the first time; building the box if needed)."""
    settings = _settings(kernel=kernel, provider=provider)
    machine = machines.define(settings, name)
    machine.up(cold=cold)
    status = machine.status()
    print(f"VM {name!r} up: kernel {status.kernel_line}, {status.accel}, ssh {status.ssh}")


@task(help={"name": "show only this VM"})
@user_facing
def vm_status(c, name=None):
    """List VMs: state, kernel, accelerator (kvm or tcg), SSH address."""
    settings = _settings()
    names = [name] if name else machines.names(settings)
    rows = []
    for vm_name in names:
        status = machines.open_existing(settings, vm_name).status()
        rows.append(
            [status.name, status.provider, status.state, status.kernel_line, status.accel, status.ssh, status.box]
        )
    if not rows:
        print("no VMs: start one with `invoke vm.up`")
        return
    print(tabulate(rows, headers=["name", "provider", "state", "kernel", "accel", "ssh", "box"], disable_numparse=True))


@task(help={"name": NAME_HELP})
@user_facing
def vm_ssh(c, name="default"):
    """Open an interactive shell in the VM (as the vagrant user, with sudo)."""
    machine = machines.open_existing(_settings(), name)
    if not machine.running():
        raise Exit(f"error: VM {name!r} is not running: `invoke vm.up --name {name}`", code=2)
    command = machine.ssh_target().command_line()
    os.execvp(command[0], command)


@task(
    help={
        "name": NAME_HELP,
        "command": "command to run (or give it after --)",
        "timeout": "seconds (default 600)",
        "sudo": "run as root",
    }
)
@user_facing
def vm_run(c, command="", name="default", timeout=None, sudo=False):
    """Run a command in the VM, print its output and exit with its status: `invoke vm.run -- uname -r`."""
    settings = _settings(command_timeout_s=timeout)
    line = command or remainder(sys.argv)
    if not line:
        raise Exit("error: no command: give one after --, e.g. `invoke vm.run -- uname -r`", code=2)
    result = machines.open_existing(settings, name).run(line, timeout=settings.command_timeout_s, sudo=sudo)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    raise Exit(code=result.exit_status)


@task(help={"name": NAME_HELP})
@user_facing
def vm_reset(c, name="default"):
    """Roll the VM back to its ready snapshot (disk and memory), e.g. after a hung insmod or an oops."""
    machines.open_existing(_settings(), name).reset()
    print(f"VM {name!r} reset to its ready snapshot")


@task(help={"name": NAME_HELP})
@user_facing
def vm_halt(c, name="default"):
    """Stop the VM and keep its disk; `vm.up` boots it again."""
    machines.open_existing(_settings(), name).halt()
    print(f"VM {name!r} halted")


@task(help={"name": NAME_HELP})
@user_facing
def vm_destroy(c, name="default"):
    """Stop the VM and delete its disk overlay and logs."""
    machines.open_existing(_settings(), name).destroy()
    print(f"VM {name!r} destroyed")


@task(help={"name": NAME_HELP, "lines": "show only the last N lines (0: all)"})
@user_facing
def vm_console(c, name="default", lines=0):
    """Show the VM's serial console log (kernel messages from boot on)."""
    log = machines.open_existing(_settings(), name).console_log
    text = log.read_text(errors="replace") if log.exists() else ""
    print("\n".join(text.splitlines()[-lines:] if lines else text.splitlines()))


@task(help={"kernel": KERNEL_HELP})
@user_facing
def box_build(c, kernel=None):
    """Build the box for a kernel line offline from Debian's mirror (cached; a no-op when built)."""
    settings = _settings(kernel=kernel)
    box = build.build(
        BoxRecipe(kernels.select(settings.kernel)), settings.cache_dir, settings.mirror, settings.cache_dir / "logs"
    )
    print(f"box {box.name}: kernel {box.kernel_release} ({box.kernel_package_version}) in {box.path}")


@task
@user_facing
def box_list(c):
    """List the built boxes."""
    boxes = store.list_boxes(_settings().cache_dir)
    if not boxes:
        print("no boxes: build one with `invoke box.build`")
        return
    rows = [
        [
            b.kernel_line,
            b.suite,
            b.kernel_release,
            b.kernel_package_version,
            f"{b.size_bytes() / 2**20:.0f} MiB",
            b.built,
            b.path,
        ]
        for b in boxes
    ]
    print(
        tabulate(
            rows, headers=["kernel", "suite", "release", "package", "size", "built", "path"], disable_numparse=True
        )
    )


@task(help={"kernel": KERNEL_HELP})
@user_facing
def box_remove(c, kernel=None):
    """Remove the box of a kernel line from the cache (VMs using it must be destroyed first)."""
    settings = _settings(kernel=kernel)
    recipe = BoxRecipe(kernels.select(settings.kernel))
    box = store.require(settings.cache_dir, recipe)
    users = [n for n in machines.names(settings) if machines.open_existing(settings, n).record.box == str(box.path)]
    if users:
        raise Exit(
            f"error: box {box.name} is used by VM(s) {', '.join(users)}: `invoke vm.destroy --name NAME` first", code=2
        )
    vagrant_box.remove(box)
    store.remove(box)
    print(f"removed box {box.name}")


@task
@user_facing
def box_prune(c):
    """Remove boxes built from an older recipe (after a toolkit upgrade) that no VM uses."""
    settings = _settings()
    current = {BoxRecipe(line).name for line in kernels.CATALOGUE}
    used = {machines.open_existing(settings, n).record.box for n in machines.names(settings)}
    for box in store.list_boxes(settings.cache_dir):
        if box.name not in current and str(box.path) not in used:
            vagrant_box.remove(box)
            store.remove(box)
            print(f"removed stale box {box.name} (kernel {box.kernel_line})")


def _domain_help(domain: str) -> dict[str, str]:
    """Each of a domain's options, with the help it declares (toolkit/domains/<domain>/)."""
    return {flag.flag: flag.help for flag in flags(domains.select(domain).options)}


def _test_domain(domain: str, values: dict[str, object], kernel: str | None, provider: str | None, name: str) -> None:
    """Run one domain on one VM, print its table and exit 0 (all passed) or 1."""
    settings = _settings(kernel=kernel, provider=provider)
    record = runs.single_run(settings, [runs.plan(domain, values)], name, settings.results_dir)
    print(reports.table(record))
    print(f"results: {settings.results_dir / record.run_id}")
    raise Exit(code=record.exit_status())


@task(
    help={**_domain_help("kernel_module"), "kernel": KERNEL_HELP, "provider": PROVIDER_HELP, "name": NAME_HELP},
    iterable=["module_param"],
)
@user_facing
def test_kernel(
    c, module_dir=None, module=None, module_param=None, kernel=None, provider=None, build_in=None, cycles=None,
    name="default",
):  # fmt: skip
    """Build a module inside the VM's kernel and run the kernel_module domain: 8 tests, a table, results/."""
    values = {"module_dir": module_dir, "module": module, "params": module_param or None, "build_in": build_in,
              "cycles": cycles}  # fmt: skip
    _test_domain("kernel_module", values, kernel, provider, name)


@task(help={"run": "run id (default: the latest)"})
@user_facing
def results_show(c, run=None):
    """Print a run's kernel x test table and its detailed table."""
    record = results_store.load(_settings().results_dir, run)
    print(reports.matrix(record) + "\n\n" + reports.table(record))


@task(
    help={
        "format": f"one of {', '.join(reports.FORMATS)}",
        "run": "run id (default: the latest)",
        "output": "file to write (default: standard output)",
    }
)
@user_facing
def results_export(c, format="json", run=None, output=None):
    """Export a run as JSON, JUnit XML, CSV or a table."""
    if format not in reports.FORMATS:
        raise Exit(f"error: unknown format {format!r}: choose one of {', '.join(reports.FORMATS)}", code=2)
    text = reports.FORMATS[format](results_store.load(_settings().results_dir, run))
    if output:
        Path(output).write_text(text)
    else:
        sys.stdout.write(text)


@task(help={"provider": "also prepare this provider: vagrant installs Vagrant and libvirt and starts libvirt"})
@user_facing
def setup(c, provider="qemu"):
    """Check and prepare the host for a provider (./setup has installed the qemu provider's packages)."""
    settings = _settings(provider=provider)
    machines.provider_class(settings.provider).require_host_tools(settings)
    print(f"provider {settings.provider} ready")


@task(help={"run_a": "the earlier run id", "run_b": "the later run id (default: the latest)"})
@user_facing
def results_diff(c, run_a, run_b=None):
    """What changed between two runs, test by kernel line: what a module change broke where."""
    root = _settings().results_dir
    print(reports.diff_table(results_store.load(root, run_a), results_store.load(root, run_b)))


def _collection(prefix: str, *tasks_: object) -> Collection:
    collection = Collection(prefix)
    for body in tasks_:
        collection.add_task(body, name=body.name.removeprefix(f"{prefix}-").removeprefix(f"{prefix}_"))
    return collection


ns = Collection(
    setup,
    _collection("vm", vm_up, vm_status, vm_ssh, vm_run, vm_reset, vm_halt, vm_destroy, vm_console),
    _collection("box", box_build, box_list, box_remove, box_prune),
    _collection("test", test_kernel),
    _collection("results", results_show, results_export, results_diff),
)
