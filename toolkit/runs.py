"""Test runs: start a VM per kernel line, run a domain on it, keep every result and log as it goes.

One line (`invoke test.kernel`) or many in parallel (`nox -s kernel-matrix`) make the same
kind of run: one results folder, one merged results.json, saved after every module, so a
line that fails or crashes never loses what the others found.
"""

from __future__ import annotations

import dataclasses
import datetime
import platform
import shutil
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from toolkit import __version__, kernels, machines
from toolkit.config import Settings
from toolkit.domains import kernel_module
from toolkit.domains.kernel_module import ModuleOptions
from toolkit.errors import UserError
from toolkit.kernels import KernelLine
from toolkit.machines.base import MachineError
from toolkit.progress import Progress
from toolkit.results import store
from toolkit.results.records import DomainRun, ModuleInfo, RunRecord, Status, TestRecord

MIB = 2**20
HOST_RESERVE_MIB = 1024


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def host_info() -> dict[str, str]:
    qemu = shutil.which("qemu-system-x86_64")
    version = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout.split("\n")[0] if qemu else ""
    return {
        "hostname": platform.node(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "qemu": version,
    }


class Run:
    """One results folder that several lines add to, from several threads."""

    def __init__(self, results_root: Path) -> None:
        self.results_root = results_root
        self.run_id = store.new_run_id()
        self.dir = store.run_dir(results_root, self.run_id)
        self.started = _now()
        self.host = host_info()
        self.runs: list[DomainRun] = []
        self._lock = threading.Lock()

    def add(self, run: DomainRun) -> RunRecord:
        with self._lock:
            self.runs.append(run)
            return self.save()

    def save(self) -> RunRecord:
        order = {line.name: index for index, line in enumerate(kernels.CATALOGUE)}
        runs = sorted(self.runs, key=lambda r: (order.get(r.kernel_line, 99), r.module.name))
        record = RunRecord(self.run_id, self.started, _now(), __version__, self.host, tuple(runs))
        store.write(self.results_root, record)
        return record


def _line_error(line: KernelLine, settings: Settings, options: ModuleOptions, reason: str) -> DomainRun:
    """A line that could not run at all: every test is an error, with the reason."""
    tests = tuple(TestRecord(name, Status.ERROR, 0.0, reason) for name in kernel_module.DOMAIN.test_names)
    module = ModuleInfo(options.module or options.source_dir.name, str(options.source_dir))
    return DomainRun("", line.name, settings.provider, "", module, kernel_module.DOMAIN.name, tests)


def run_line(settings: Settings, options: ModuleOptions, vm_name: str, run: Run) -> None:
    """The kernel_module domain on one line's VM; the VM's logs are kept with the results."""
    line = kernels.select(settings.kernel)
    progress = Progress(line.name)
    machine = machines.define(settings, vm_name)
    out = run.dir / line.name
    try:
        with progress.step(f"VM {vm_name} up"):
            machine.up()
        status = machine.status()
        package = machine.box.kernel_package_version
        for subject, records in kernel_module.run(machine, options, out, progress):
            module = ModuleInfo(
                subject.name, str(options.source_dir), subject.module.srcversion if subject.module else ""
            )
            run.add(DomainRun(subject.kernel_release, line.name, machine.provider, status.accel, module,
                              kernel_module.DOMAIN.name, tuple(records), package))  # fmt: skip
    finally:
        logs = out / "vm"
        logs.mkdir(parents=True, exist_ok=True)
        for log in machine.log_files():
            if log.exists():
                shutil.copyfile(log, logs / log.name)


def kernel_module_run(settings: Settings, options: ModuleOptions, vm_name: str, results_root: Path) -> RunRecord:
    """One line: the configured kernel on the VM called vm_name."""
    kernel_module.check_constraints(options, settings.memory_mib)
    run = Run(results_root)
    try:
        run_line(settings, options, vm_name, run)
    finally:
        record = run.save()
    return record


def parallel_jobs(settings: Settings, lines: int, requested: int | None = None) -> int:
    """VMs at once: as many as host CPUs and memory allow without oversubscribing, at most `requested`."""
    by_cpu = max(1, (psutil.cpu_count() or 1) // settings.cpus)
    by_memory = max(1, (psutil.virtual_memory().available // MIB - HOST_RESERVE_MIB) // settings.memory_mib)
    allowed = min(by_cpu, by_memory, lines)
    if requested is not None and requested < 1:
        raise UserError(f"--jobs must be at least 1, not {requested}")
    return min(allowed, requested) if requested else allowed


def matrix_run(
    settings: Settings, options: ModuleOptions, lines: list[KernelLine], jobs: int, results_root: Path,
    on_line_done: Callable[[KernelLine, str], None] = lambda line, outcome: None,
) -> RunRecord:  # fmt: skip
    """Every line in parallel (jobs at once); a line that fails to start is an error for that line only."""
    kernel_module.check_constraints(options, settings.memory_mib)
    run = Run(results_root)

    def one(line: KernelLine) -> None:
        line_settings = dataclasses.replace(settings, kernel=line.name)
        try:
            run_line(line_settings, options, f"matrix-{line.name}", run)
            on_line_done(line, "done")
        except (UserError, MachineError) as error:
            run.add(_line_error(line, settings, options, f"{type(error).__name__}: {error}"))
            on_line_done(line, f"error: {error}")
        finally:
            try:
                machines.open_existing(line_settings, f"matrix-{line.name}").destroy()
            except UserError:
                pass

    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for future in [pool.submit(one, line) for line in lines]:
                future.result()
    finally:
        record = run.save()
    return record
