"""Invoke tasks: parse arguments, call the toolkit, print. `invoke --list` shows them all."""

from __future__ import annotations

import contextlib
import json as json_module
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from invoke import Collection, task
from invoke.exceptions import Exit
from invoke.main import program
from tabulate import tabulate

from toolkit import config, debug, domains, interrupts, kernels, machines, runs
from toolkit.boxes import store
from toolkit.boxes import vagrant as vagrant_box
from toolkit.boxes.recipe import BoxRecipe
from toolkit.cli import positional, remainder, strict_command_line, takes_command, user_facing
from toolkit.domains.options import flags
from toolkit.errors import UserError
from toolkit.files import write_output
from toolkit.machines.base import MachineStatus
from toolkit.machines.record import CorruptRecord, destroy_hint
from toolkit.results import kcidb, reports
from toolkit.results import merge as run_merge
from toolkit.results import store as results_store
from toolkit.results.records import RunRecord, Status

NAME_HELP = "VM name (default: default); several VMs can run side by side"
PROVIDER_HELP = "qemu (default) or vagrant"
DEBUG_HELP = f"debug tier the guest boots with: {', '.join(f'{t.name} ({t.summary})' for t in debug.TIERS.values())}; default {debug.DEFAULT}"
KERNEL_HELP = f"kernel line, by version or Debian suite: {', '.join(line.name for line in kernels.CATALOGUE)}; <line>-debug once `kernel.build` made it"

# `invoke` imports this file before it parses the tasks' words: from here on its usage errors
# (unknown flag or task, a flag without its value) are one line and exit status 2, like ours.
strict_command_line(program)


def _settings(**flags: object) -> config.Settings:
    return config.load(flags)


JSON_HELP = "print JSON (stable keys, see README) instead of a table"


def _print_json(data: object) -> None:
    print(json_module.dumps(data, indent=2))


@task(
    help={
        "kernel": KERNEL_HELP,
        "name": NAME_HELP,
        "provider": PROVIDER_HELP,
        "cold": "boot the kernel instead of resuming the box's ready snapshot",
        "debug": DEBUG_HELP,
    }
)
@user_facing
def vm_up(c, kernel=None, name="default", provider=None, cold=False, debug=None):
    """Start a VM from its box's ready snapshot (booting it the first time; building the box if needed)."""
    settings = _settings(kernel=kernel, provider=provider, debug=debug)
    _sweep(settings)
    existed = machines.exists(settings, name)

    def forget_new_vm() -> None:
        if not existed:
            _destroy_if_any(settings, name)

    with machines.locked(settings, name, "vm.up"), _stoppable(f"VM {name!r} was not started", forget_new_vm):
        machine = machines.define(settings, name)
        machine.use_debug(settings.debug)
        machine.up(cold=cold)
    status = machine.status()
    print(
        f"VM {name!r} up: kernel {status.kernel_line}, {status.accel}, debug {machine.record.debug}, ssh {status.ssh}"
    )


@task(help={"name": "show only this VM", "json": JSON_HELP})
@user_facing
def vm_status(c, name=None, json=False):
    """List VMs: state, kernel, accelerator (kvm or tcg), SSH address."""
    settings = _settings()
    _sweep(settings)
    names = [name] if name else machines.names(settings)
    statuses, corrupt = [], []
    for vm_name in names:
        try:
            statuses.append(machines.open_existing(settings, vm_name).status().to_dict())
        except CorruptRecord as error:
            statuses.append(MachineStatus(vm_name, "", "corrupt").to_dict(f"corrupt {error.path} ({error.problem})"))
            corrupt.append(error)
    if json:
        _print_json(statuses)
        return
    if not statuses:
        print("no VMs: start one with `invoke vm.up`")
        return
    columns = {"name": "name", "provider": "provider", "state": "state", "kernel_line": "kernel", "accel": "accel",
               "ssh": "ssh", "box": "box"}  # fmt: skip
    rows = [[status[key] for key in columns] for status in statuses]
    print(tabulate(rows, headers=list(columns.values()), disable_numparse=True))
    for error in corrupt:
        print(f"{error.name}: corrupt {error.path} ({error.problem}): remove it with {destroy_hint(error.name)}")


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
@takes_command
@user_facing
def vm_run(c, command="", name="default", timeout=None, sudo=False):
    """Run a command in the VM, print its output and exit with its status: `invoke vm.run -- uname -r`."""
    settings = _settings(command_timeout_s=timeout)
    line = command or remainder(sys.argv)
    if not line:
        raise UserError("no command: give one after --, e.g. `invoke vm.run -- uname -r`")
    result = machines.open_existing(settings, name).run(line, timeout=settings.command_timeout_s, sudo=sudo)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    raise Exit(code=result.exit_status)


@task(help={"name": NAME_HELP})
@user_facing
def vm_reset(c, name="default"):
    """Roll the VM back to its ready snapshot (disk and memory), e.g. after a hung insmod or an oops."""
    settings = _settings()
    machine = machines.open_existing(settings, name)
    with machines.locked(settings, name, "vm.reset"):
        machine.reset()
    print(f"VM {name!r} reset to its ready snapshot")


@task(help={"name": NAME_HELP})
@user_facing
def vm_halt(c, name="default"):
    """Stop the VM and keep its disk; `vm.up` boots it again."""
    settings = _settings()
    machine = machines.open_existing(settings, name)
    with machines.locked(settings, name, "vm.halt"):
        machine.halt()
    print(f"VM {name!r} halted")


@task(help={"name": NAME_HELP, "all": "every VM of this installation, whichever provider, and what runs left"})
@user_facing
def vm_destroy(c, name="default", all=False):
    """Stop the VM and delete its disk overlay and logs (--all: every VM, and leftovers of killed runs)."""
    settings = _settings()
    if all:
        removed = [f"VM {vm}" for vm in machines.destroy_all(settings)] + machines.sweep(settings)
        print("\n".join(f"removed {what}" for what in removed) or "nothing to remove")
        return
    machines.destroy(settings, name)
    print(f"VM {name!r} destroyed")


@task(help={"name": NAME_HELP, "lines": "show only the last N lines (0: all)"})
@user_facing
def vm_console(c, name="default", lines=0):
    """Show the VM's serial console log (kernel messages from boot on)."""
    if lines < 0:
        raise UserError(f"--lines must be 0 (all) or more, not {lines}")
    text = machines.open_existing(_settings(), name).console_text()
    print("\n".join(text.splitlines()[-lines:] if lines else text.splitlines()))


@task(help={"kernel": KERNEL_HELP})
@user_facing
def box_build(c, kernel=None):
    """Build the box for a kernel line offline from Debian's mirror (cached; a no-op when built)."""
    settings = _settings(kernel=kernel)
    with _stoppable("the half-built box was removed"):
        box = machines.box_for(settings, settings.kernel)
    print(f"box {box.name}: kernel {box.kernel_release} ({box.kernel_package_version}) in {box.path}")


@task(help={"json": JSON_HELP})
@user_facing
def box_list(c, json=False):
    """List the built boxes."""
    boxes = [box.describe() for box in store.list_boxes(_settings().cache_dir)]
    if json:
        _print_json(boxes)
        return
    if not boxes:
        print("no boxes: build one with `invoke box.build`")
        return
    columns = {"kernel_line": "kernel", "suite": "suite", "kernel_release": "release", "kernel_package": "package",
               "size_bytes": "size", "built": "built", "path": "path"}  # fmt: skip
    rows = [[f"{b[key] / 2**20:.0f} MiB" if key == "size_bytes" else b[key] for key in columns] for b in boxes]
    print(tabulate(rows, headers=list(columns.values()), disable_numparse=True))


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
    """Remove boxes built from an older recipe (after a toolkit upgrade) that no VM uses, and outdated kernel builds."""
    settings = _settings()
    for folder in machines.stale_kernel_builds(settings):
        print(f"removed outdated kernel build {folder.relative_to(settings.cache_dir)}")
    current = {BoxRecipe(line).name for line in kernels.every_line()}
    used = {machines.open_existing(settings, n).record.box for n in machines.names(settings)}
    for box in store.list_boxes(settings.cache_dir):
        if box.name not in current and str(box.path) not in used:
            vagrant_box.remove(box)
            store.remove(box)
            print(f"removed stale box {box.name} (kernel {box.kernel_line})")


@task(
    help={
        "kernel": KERNEL_HELP,
        "profile": f"config profile (kernel/configs/<profile>.config): {', '.join(kernels.PROFILES)}",
        "jobs": "parallel compile jobs (default: the host's CPUs)",
    }
)
@user_facing
def kernel_build(c, kernel=None, profile="debug", jobs=0):
    """Build a kernel from the line's Debian source with a profile's config, and the box `<line>-<profile>` around it."""
    settings = _settings(kernel=kernel)
    line = kernels.select(settings.kernel)
    variant = line if line.profile else line.variant(profile)
    with _stoppable("the build stopped: run the same command again to resume it"):
        box = machines.variant_box(settings, variant, jobs or os.cpu_count() or 1)
    print(
        f"box {box.name}: kernel {box.kernel_release} ({box.kernel_package_version}), "
        f"{box.size_bytes() / 2**20:.0f} MiB, in {box.path}; use it with --kernel {variant.name}"
    )


def _domain_help(domain: str) -> dict[str, str]:
    """Each of a domain's options, with the help it declares (toolkit/domains/<domain>/)."""
    return {flag.flag: flag.help for flag in flags(domains.select(domain).options)}


def _run_help(domain: str) -> dict[str, str]:
    """The flags of a task running a domain on one VM: the domain's options, then where it runs."""
    return {**_domain_help(domain), "kernel": KERNEL_HELP, "provider": PROVIDER_HELP, "name": NAME_HELP,
            "debug": DEBUG_HELP}  # fmt: skip


@contextlib.contextmanager
def _stoppable(outcome: str, on_stop: Callable[[], None] = lambda: None) -> Iterator[None]:
    """SIGINT/SIGTERM stop the block (its children killed, its cleanups run), then on_stop; exit 130/143."""
    try:
        with interrupts.handled():
            yield
    except interrupts.Interrupted as stop:
        on_stop()
        raise Exit(f"interrupted by {stop}: {outcome}", code=stop.exit_code) from None


def _destroy_if_any(settings: config.Settings, name: str) -> None:
    if machines.exists(settings, name):
        machines.destroy(settings, name)


def _sweep(settings: config.Settings) -> None:
    """Say and remove what interrupted runs left behind."""
    for what in machines.sweep(settings):
        print(f"[cleanup] removed {what}, left by an interrupted run", file=sys.stderr)


def _test_domain(
    domain: str, values: dict[str, object], kernel: str | None, provider: str | None, name: str, debug: str | None
) -> None:
    """Run one domain on one VM, print its table and exit 0 (all passed), 1 or, interrupted, 130/143."""
    settings = _settings(kernel=kernel, provider=provider, debug=debug)
    _sweep(settings)
    with _stoppable(f"the tests finished so far are in {settings.results_dir / 'latest'}"):
        record = runs.single_run(settings, [runs.plan(domain, values)], name, settings.results_dir)
    print(reports.table(record))
    print(f"results: {settings.results_dir / record.run_id}")
    raise Exit(code=record.exit_status())


@task(help=_run_help("kernel_module"), iterable=["module_param"])
@user_facing
def test_kernel(
    c, module_dir=None, module=None, module_param=None, kernel=None, provider=None, build_in=None, cycles=None,
    name="default", debug=None,
):  # fmt: skip
    """Build a module inside the VM's kernel and run the kernel_module domain: 8 tests, a table, results/."""
    values = {"module_dir": module_dir, "module": module, "params": module_param or None, "build_in": build_in,
              "cycles": cycles}  # fmt: skip
    _test_domain("kernel_module", values, kernel, provider, name, debug)


@task(help=_run_help("filesystem"), iterable=["module_param"])
@user_facing
def test_fs(
    c, module_dir=None, fs_type=None, mount_options=None, module_param=None, build_in=None, mount_cycles=None,
    stress_seconds=None, kernel=None, provider=None, name="default", debug=None,
):  # fmt: skip
    """Test a filesystem (kernel/vexfs by default, or --fs-type tmpfs|ext4) in the VM: 8 tests, a table, results/."""
    values = {"module_dir": module_dir, "fs_type": fs_type, "mount_options": mount_options,
              "params": module_param or None, "build_in": build_in, "mount_cycles": mount_cycles,
              "stress_s": stress_seconds}  # fmt: skip
    _test_domain("filesystem", values, kernel, provider, name, debug)


@task(help={"run": "run id (default: the latest)", "json": JSON_HELP})
@user_facing
def results_show(c, run=None, json=False):
    """Print a run's kernel x test table and its detailed table."""
    record = results_store.load(_settings().results_dir, run)
    if json:
        _print_json(reports.overview(record))
        return
    print(reports.matrix(record) + "\n\n" + reports.table(record))


EXPORT_FORMATS = [*reports.FORMATS, "kcidb"]


@task(
    help={
        "format": f"one of {', '.join(EXPORT_FORMATS)}",
        "run": "run id (default: the latest)",
        "output": "file to write (default: standard output)",
        "origin": f"kcidb: the CI system's name, the prefix of every id (default {kcidb.ORIGIN})",
    }
)
@user_facing
def results_export(c, format="json", run=None, output=None, origin=kcidb.ORIGIN):
    """Export a run as JSON, JUnit XML, CSV, a table, HTML or KernelCI KCIDB v5 JSON."""
    if format not in EXPORT_FORMATS:
        raise UserError(f"unknown format {format!r}: choose one of {', '.join(EXPORT_FORMATS)}")
    settings = _settings()
    record = results_store.load(settings.results_dir, run)
    if format == "kcidb":
        facts = kcidb.facts(record, settings.results_dir / record.run_id, settings.cache_dir)
        text = kcidb.export(record, origin, facts)
    else:
        text = reports.FORMATS[format](record)
    if output:
        write_output(Path(output), text)
    else:
        sys.stdout.write(text)


@task(
    help={
        "dirs": "run folders (results/<run-id>, or a results folder: its latest run), or give them without the flag",
        "origin": f"the KCIDB origin of the merged run's kcidb.json (default {kcidb.ORIGIN})",
    },
    iterable=["dirs"],
)
@positional("dirs", repeat_last=True)
@user_facing
def results_merge(c, dirs=None, origin=kcidb.ORIGIN):
    """Merge run folders made per kernel line (one CI job each) into one run: `invoke results.merge DIR...`."""
    paths = [Path(d) for d in dirs or []]
    if not paths:
        raise UserError("no run folders: `invoke results.merge DIR...` (e.g. one results/<run-id> per kernel line)")
    settings = _settings()
    path = run_merge.merge(settings.results_dir, paths, settings.cache_dir, origin)
    record = results_store.load(settings.results_dir, path.name)
    print(reports.matrix(record) + "\n\n" + reports.table(record))
    print(f"merged {len(record.runs)} line run(s) into {path} (with {run_merge.KCIDB_FILE})")


@task(help={"keep": "how many of the newest runs to keep (at least 1)"})
@user_facing
def results_prune(c, keep=10):
    """Remove the folders of older runs: all but the newest --keep N, never the one results/latest points at."""
    removed = results_store.prune(_settings().results_dir, keep)
    print("\n".join(f"removed run {run_id}" for run_id in removed) or "nothing to remove")


@task(help={"provider": "also prepare this provider: vagrant installs Vagrant and libvirt and starts libvirt"})
@user_facing
def setup(c, provider="qemu"):
    """Check and prepare the host for a provider (./setup has installed the qemu provider's packages)."""
    settings = _settings(provider=provider)
    for change in machines.provider_class(settings.provider).prepare_host(settings):
        print(f"changed: {change}")
    print(f"provider {settings.provider} ready")


def _regressions(before: RunRecord, after: RunRecord) -> list[list[str]]:
    """The diff rows of tests that passed before and failed or errored after."""
    broken = {Status.FAILED.value, Status.ERROR.value}
    return [row for row in reports.diff(before, after) if row[3] == Status.PASSED.value and row[4] in broken]


@task(
    help={
        "run_a": "the earlier run id (or give it first, without the flag)",
        "run_b": "the later run id (default: the latest; or give it second)",
    }
)
@positional("run_a", "run_b")
@user_facing
def results_diff(c, run_a=None, run_b=None):
    """What changed between two runs, test by kernel line: `invoke results.diff RUN_A [RUN_B]`.

    Exits 1 when a test that passed in RUN_A failed or errored in RUN_B (a gate for CI), else 0.
    """
    if not run_a:
        raise UserError("no run to compare: `invoke results.diff RUN_A [RUN_B]` (RUN_B: the latest)")
    root = _settings().results_dir
    before, after = results_store.load(root, run_a), results_store.load(root, run_b)
    print(reports.diff_table(before, after))
    regressions = _regressions(before, after)
    if regressions:
        print(f"{len(regressions)} test(s) went from passed to failed or error")
    raise Exit(code=1 if regressions else 0)


def _collection(prefix: str, *tasks_: object) -> Collection:
    collection = Collection(prefix)
    for body in tasks_:
        collection.add_task(body, name=body.name.removeprefix(f"{prefix}-").removeprefix(f"{prefix}_"))
    return collection


ns = Collection(
    setup,
    _collection("vm", vm_up, vm_status, vm_ssh, vm_run, vm_reset, vm_halt, vm_destroy, vm_console),
    _collection("box", box_build, box_list, box_remove, box_prune),
    _collection("kernel", kernel_build),
    _collection("test", test_kernel, test_fs),
    _collection("results", results_show, results_export, results_diff, results_merge, results_prune),
)
