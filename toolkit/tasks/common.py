"""What the tasks' bodies share: their settings (with the task's --config), room on the host for a VM, JSON output,
stopping on a signal, sweeping what killed runs left. A body imports it as it starts: it loads the settings'
and the VMs' machinery, which declaring a task does not need."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from invoke import Context
from invoke.exceptions import Exit

from toolkit import config, host_capacity, interrupts, user_folders
from toolkit.commands import chosen_config
from toolkit.machines import registry
from toolkit.machines.vm_record import CorruptRecord
from toolkit.results import store as results_store


def settings(
    c: Context, reads: Iterable[user_folders.Store] = (), writes: Iterable[user_folders.Store] = (), **flags: Any
) -> config.Settings:
    """The settings in force for this task: defaults, files (or its --config), VEXFS_* variables, these flags;
    the folders of the stores it reads and writes checked as this user's to use (toolkit/user_folders.py)."""
    found = config.load(flags, chosen_config(c))
    user_folders.require(found, reads, writes)
    return found


def require_room(found: config.Settings, name: str) -> None:
    """Before a command starts the VM called name: the host has room for it (host_capacity), unless it runs
    already."""
    if not _runs_now(found, name):
        host_capacity.require_host_capacity(found)


def _runs_now(found: config.Settings, name: str) -> bool:
    if not registry.exists(found, name):
        return False
    try:
        return registry.open_existing(found, name).running()
    except CorruptRecord:
        return False


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2))


@contextlib.contextmanager
def stoppable(outcome: str, on_stop: Callable[[], None] = lambda: None) -> Iterator[None]:
    """SIGINT/SIGTERM stop the block (its children killed, its cleanups run), then on_stop; exit 130/143."""
    try:
        with interrupts.handled():
            yield
    except interrupts.Interrupted as stop:
        on_stop()
        raise Exit(f"interrupted by {stop}: {outcome}", code=stop.exit_code) from None


def sweep(found: config.Settings) -> None:
    """Say and remove what interrupted runs left behind (for commands that start VMs), and mark runs whose process
    was killed abandoned."""
    for what in registry.sweep(found):
        print(f"[cleanup] removed {what}, left by an interrupted run", file=sys.stderr)
    for what in results_store.settle_abandoned(found.results_dir):
        print(f"[cleanup] {what}", file=sys.stderr)


def report_stale(found: config.Settings) -> None:
    """Say what interrupted runs left behind, removing nothing (for commands that only look)."""
    for what in registry.stale(found):
        print(f"[stale] {what}, left by an interrupted run: the next vm.up or test removes it", file=sys.stderr)
