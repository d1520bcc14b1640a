"""vm.*: start, inspect, reach and stop VMs."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from invoke import Context
from invoke.exceptions import Exit

from toolkit.commands import collection, command, positional, remainder, takes_command
from toolkit.errors import UserError
from toolkit.run_options import DEBUG_HELP, KERNEL_HELP, KERNEL_IMAGE_HELP, KERNEL_TREE_HELP, PROVIDER_HELP
from toolkit.tasks.flag_help import JSON_HELP, VM_NAME_HELP

if TYPE_CHECKING:
    from toolkit import config
    from toolkit.machines.protocol import Machine


def _running(c: Context, name: str) -> Machine:
    from toolkit.machines import registry
    from toolkit.tasks.common import settings
    from toolkit.user_folders import STATE

    machine = registry.open_existing(settings(c, reads=[STATE]), name)
    if not machine.running():
        raise UserError(f"VM {name!r} is not running: `invoke vm.up --name {name}`")
    return machine


@command(
    help={
        "kernel": KERNEL_HELP,
        "name": VM_NAME_HELP,
        "provider": PROVIDER_HELP,
        "cold": "boot the kernel instead of resuming the box's ready snapshot",
        "debug": DEBUG_HELP,
        "kernel_tree": KERNEL_TREE_HELP,
        "kernel_image": KERNEL_IMAGE_HELP,
    },
    iterable=["kernel_image"],
)
def vm_up(
    c: Context, kernel: str | None = None, name: str = "default", provider: str | None = None, cold: bool = False,
    debug: str | None = None, kernel_tree: str | None = None, kernel_image: list[str] | None = None,
) -> None:  # fmt: skip
    """Start a VM from its box's ready snapshot (booting it the first time; building the box if needed)."""
    from toolkit.machines import registry
    from toolkit.run_request import brought_lines
    from toolkit.tasks.common import require_room, settings, stoppable, sweep
    from toolkit.user_folders import STARTING_A_VM

    brought = brought_lines(kernel_tree, kernel_image or (), one_vm=True, kernel=kernel)
    kernel = brought[0].name if brought else kernel
    found = settings(c, writes=STARTING_A_VM, kernel=kernel, provider=provider, debug=debug)
    registry.checked_new_name(found, name)
    require_room(found, name)
    sweep(found)
    existed = registry.exists(found, name)

    def forget_new_vm() -> None:
        if not existed and registry.exists(found, name):
            registry.destroy(found, name)

    with registry.locked(found, name, "vm.up"), stoppable(f"VM {name!r} was not started", forget_new_vm):
        machine = registry.define(found, name)
        machine.use_debug(found.debug)
        machine.up(cold=cold)
    status = machine.status()
    print(
        f"VM {name!r} up: kernel {status.kernel_line}, {status.accel}, debug {machine.record.debug}, ssh {status.ssh}"
    )


@command(help={"name": "show only this VM", "json": JSON_HELP})
def vm_status(c: Context, name: str | None = None, json: bool = False) -> None:
    """List VMs: state, kernel, accelerator (kvm or tcg), SSH address."""
    from toolkit.machines import registry
    from toolkit.machines.protocol import MachineStatus
    from toolkit.machines.vm_record import CorruptRecord, destroy_hint
    from toolkit.tasks.common import print_json, report_stale, settings
    from toolkit.text_tables import table
    from toolkit.user_folders import CACHE, STATE

    found = settings(c, reads=[STATE, CACHE])
    chosen = [registry.checked_name(found, name)] if name is not None else registry.names(found)
    report_stale(found)
    statuses, corrupt = [], []
    for vm_name in chosen:
        try:
            statuses.append(registry.open_existing(found, vm_name).status().to_dict())
        except CorruptRecord as error:
            statuses.append(MachineStatus(vm_name, "", "corrupt").to_dict(f"corrupt {error.path} ({error.problem})"))
            corrupt.append(error)
    if json:
        print_json(statuses)
        return
    if not statuses:
        print("no VMs: start one with `invoke vm.up`")
        return
    columns = {"name": "name", "provider": "provider", "state": "state", "kernel_line": "kernel", "accel": "accel",
               "ssh": "ssh", "box": "box"}  # fmt: skip
    rows = [[status[key] for key in columns] for status in statuses]
    print(table(rows, list(columns.values())))
    for broken in corrupt:
        print(f"{broken.name}: corrupt {broken.path} ({broken.problem}): remove it with {destroy_hint(broken.name)}")


@command(help={"name": VM_NAME_HELP})
@takes_command
def vm_ssh(c: Context, name: str = "default") -> None:
    """A shell in the VM as the vagrant user (sudo works), or the command after --: `invoke vm.ssh -- dmesg -w`."""
    line = _running(c, name).ssh_target().command_line(*filter(None, [remainder(sys.argv)]))
    os.execvp(line[0], line)


def _every_running(found: config.Settings) -> Iterator[Machine]:
    """The running VMs (one whose record cannot be read is not: `vm.status` says what is wrong with it)."""
    from toolkit.machines import registry
    from toolkit.machines.vm_record import CorruptRecord

    for name in registry.names(found):
        try:
            machine = registry.open_existing(found, name)
        except CorruptRecord:
            continue
        if machine.running():
            yield machine


@command(help={"name": "only this VM (default: every running VM)"})
def vm_ssh_config(c: Context, name: str | None = None) -> None:
    """Print an OpenSSH config for the running VMs, each as `Host NAME`: `ssh -F FILE NAME`, `scp -F FILE ...`."""
    from toolkit.tasks.common import settings
    from toolkit.user_folders import STATE

    running = [_running(c, name)] if name is not None else list(_every_running(settings(c, reads=[STATE])))
    if not running:
        raise UserError("no VM is running: start one with `invoke vm.up`")
    print("\n".join(machine.ssh_target().config_block(machine.name) for machine in running), end="")


@command(
    help={"name": VM_NAME_HELP, "timeout": "seconds (default 600)", "sudo": "run as root"},
)
@takes_command
def vm_run(c: Context, name: str = "default", timeout: str | None = None, sudo: bool = False) -> None:
    """Run the command after -- in the VM, each word as given; print its output, exit with its status."""
    from toolkit.machines import registry
    from toolkit.tasks.common import settings
    from toolkit.user_folders import STATE

    found = settings(c, reads=[STATE], command_timeout_s=timeout)
    line = remainder(sys.argv)
    if not line:
        raise UserError("no command: give one after --, e.g. `invoke vm.run -- uname -r`")
    result = registry.open_existing(found, name).run(line, timeout=found.command_timeout_s, sudo=sudo)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    raise Exit(code=result.exit_status)


@command(
    help={
        "source": "the file to copy: a host path, or :PATH in the guest (or give it first, without the flag)",
        "destination": "where to: :PATH in the guest, or a host path (a folder keeps the name; or give it second)",
        "name": VM_NAME_HELP,
    }
)
@positional("source", "destination")
def vm_copy(c: Context, source: str = "", destination: str = "", name: str = "default") -> None:
    """Copy a file into the VM or out of it, the guest's side written :PATH: `invoke vm.copy a.ko :/tmp/`."""
    from toolkit.machines.guest_copy import Copy, copy

    request = Copy.parse(source, destination)
    request.check_host_side()
    print(copy(_running(c, name), request))


@contextlib.contextmanager
def _held(c: Context, name: str, purpose: str) -> Iterator[Machine]:
    """The VM called name, held for purpose (another command holding it is refused at once)."""
    from toolkit.machines import registry
    from toolkit.tasks.common import settings
    from toolkit.user_folders import STATE

    found = settings(c, writes=[STATE])
    machine = registry.open_existing(found, name)
    with registry.locked(found, name, purpose):
        yield machine


@command(help={"name": VM_NAME_HELP})
def vm_reset(c: Context, name: str = "default") -> None:
    """Roll the VM back to its ready snapshot (disk and memory), e.g. after a hung insmod or an oops."""
    with _held(c, name, "vm.reset") as machine:
        machine.reset()
    print(f"VM {name!r} reset to its ready snapshot")


@command(help={"name": VM_NAME_HELP})
def vm_halt(c: Context, name: str = "default") -> None:
    """Stop the VM and keep its disk; `vm.up` boots it again."""
    with _held(c, name, "vm.halt") as machine:
        machine.halt()
    print(f"VM {name!r} halted")


@command(help={"name": VM_NAME_HELP, "all": "every VM of this installation, whichever provider, and what runs left"})
def vm_destroy(c: Context, name: str = "default", all: bool = False) -> None:
    """Stop the VM and delete its disk overlay and logs (--all: every VM, and leftovers of killed runs)."""
    from toolkit.machines import registry
    from toolkit.tasks.common import settings
    from toolkit.user_folders import CACHE, STATE

    found = settings(c, writes=[STATE, CACHE])
    if all:
        removed = [f"VM {vm}" for vm in registry.destroy_all(found)] + registry.sweep(found)
        print("\n".join(f"removed {what}" for what in removed) or "nothing to remove")
        return
    registry.destroy(found, name)
    print(f"VM {name!r} destroyed")


@command(help={"name": VM_NAME_HELP, "lines": "show only the last N lines (0: all)"})
def vm_console(c: Context, name: str = "default", lines: int = 0) -> None:
    """Show the VM's serial console log (kernel messages from boot on)."""
    from toolkit.machines import registry
    from toolkit.tasks.common import settings
    from toolkit.user_folders import STATE

    if lines < 0:
        raise UserError(f"--lines must be 0 (all) or more, not {lines}")
    text = registry.open_existing(settings(c, reads=[STATE]), name).console_text()
    print("\n".join(text.splitlines()[-lines:] if lines else text.splitlines()))


ns = collection(
    "vm", vm_up, vm_status, vm_ssh, vm_ssh_config, vm_run, vm_copy, vm_reset, vm_halt, vm_destroy, vm_console
)
