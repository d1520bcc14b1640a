"""Test runs: start a VM per kernel line, run domains on it, keep every result and log as it goes.

One line (`invoke test.kernel`) or many in parallel (`nox -s kernel-matrix`) make the same
kind of run: one results folder, one merged results.json, saved after every test, so a line
that fails or crashes never loses what the others found. Domains are known only through
the registry (toolkit.domains): a `Plan` is a domain and its options.
"""

from __future__ import annotations

import dataclasses
import datetime
import platform
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from toolkit import __version__, domains, kernels, machines
from toolkit.config import Settings
from toolkit.domains import options
from toolkit.domains.base import Domain, Target, run_cases
from toolkit.errors import UserError
from toolkit.kernels import KernelLine
from toolkit.machines.base import Machine, MachineError
from toolkit.progress import Progress
from toolkit.results import store
from toolkit.results.records import DomainRun, RunRecord, Status, TestRecord

MIB = 2**20
HOST_RESERVE_MIB = 1024


@dataclass(frozen=True)
class Plan:
    """One domain to run, with its options."""

    domain: Domain[Any]
    options: Any


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


def plan(domain_name: str, values: dict[str, Any]) -> Plan:
    """The named domain with options parsed from command-line values (None: the domain's default)."""
    domain = domains.select(domain_name)
    known = {field.name for field in dataclasses.fields(domain.options)}
    return Plan(domain, options.parse(domain.options, {k: v for k, v in values.items() if k in known}))


def check(plans: Sequence[Plan], settings: Settings) -> None:
    """Every plan's constraints, before anything starts: all problems in one UserError."""
    problems = [problem for plan in plans for problem in plan.domain.constraints(plan.options, settings)]
    if problems:
        raise UserError("; ".join(dict.fromkeys(problems)))


class Run:
    """One results folder that several lines add to, from several threads; saved on every change."""

    def __init__(self, results_root: Path) -> None:
        self.results_root = results_root
        self.run_id = store.new_run_id()
        self.dir = store.run_dir(results_root, self.run_id)
        self.started = _now()
        self.host = host_info()
        self._runs: dict[tuple[str, str, str], DomainRun] = {}
        self._lock = threading.Lock()

    def put(self, run: DomainRun) -> RunRecord:
        """Add a domain run, or replace the one for the same line, domain and subject (its tests so far)."""
        with self._lock:
            self._runs[(run.kernel_line, run.domain, run.subject.name)] = run
            return self.save()

    def save(self) -> RunRecord:
        order = {line.name: index for index, line in enumerate(kernels.CATALOGUE)}
        runs = sorted(self._runs.values(), key=lambda r: (order.get(r.kernel_line, 99), r.domain, r.subject.name))
        record = RunRecord(self.run_id, self.started, _now(), __version__, self.host, tuple(runs))
        store.write(self.results_root, record)
        return record


def _line_error(line: KernelLine, settings: Settings, plan: Plan, reason: str) -> DomainRun:
    """A line that could not run at all: every test is an error, with the reason."""
    tests = tuple(TestRecord(name, Status.ERROR, 0.0, reason) for name in plan.domain.test_names)
    subject = plan.domain.describe(plan.options)
    return DomainRun("", line.name, settings.provider, "", subject, plan.domain.name, tests)


def _keep_logs(machine: Machine, out: Path) -> None:
    logs = out / "vm"
    logs.mkdir(parents=True, exist_ok=True)
    for log in machine.log_files():
        if log.exists():
            shutil.copyfile(log, logs / log.name)


def run_line(settings: Settings, plans: Sequence[Plan], vm_name: str, run: Run) -> None:
    """Each plan's domain on one line's VM, results saved after every test; the VM's logs kept with them."""
    line = kernels.select(settings.kernel)
    progress = Progress(line.name)
    machine = machines.define(settings, vm_name)
    out = run.dir / line.name
    try:
        with progress.step(f"VM {vm_name} up"):
            machine.up()
        accel = machine.status().accel
        release = machine.run("uname -r", timeout=30).stdout.strip()
        target = Target(machine, release, out, progress)
        for plan in plans:
            for subject in plan.domain.subjects(target, plan.options):
                base = DomainRun(release, line.name, machine.provider, accel, subject.info, plan.domain.name, (),
                                 machine.box.kernel_package_version)  # fmt: skip

                def save(records: list[TestRecord], base: DomainRun = base) -> None:
                    run.put(dataclasses.replace(base, tests=tuple(records)))

                run_cases(plan.domain.cases, subject, Progress(f"{line.name} {subject.info.name}"), save)
    finally:
        _keep_logs(machine, out)


def single_run(settings: Settings, plans: Sequence[Plan], vm_name: str, results_root: Path) -> RunRecord:
    """One line: the configured kernel on the VM called vm_name."""
    check(plans, settings)
    run = Run(results_root)
    try:
        run_line(settings, plans, vm_name, run)
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
    settings: Settings, plans: Sequence[Plan], lines: list[KernelLine], jobs: int, results_root: Path,
    on_line_done: Callable[[KernelLine, str], None] = lambda line, outcome: None,
) -> RunRecord:  # fmt: skip
    """Every line in parallel (jobs at once); a line that fails to start is an error for that line only."""
    check(plans, settings)
    run = Run(results_root)

    def one(line: KernelLine) -> None:
        line_settings = dataclasses.replace(settings, kernel=line.name)
        try:
            run_line(line_settings, plans, f"matrix-{line.name}", run)
            on_line_done(line, "done")
        except (UserError, MachineError) as error:
            for plan in plans:
                run.put(_line_error(line, settings, plan, f"{type(error).__name__}: {error}"))
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
