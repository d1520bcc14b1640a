"""Test runs: start a VM per kernel line, run domains on it, keep every result and log as it goes.

One line (`invoke test.kernel`) or many in parallel (`nox -s kernel-matrix`) make the same
kind of run: one results folder, one merged results.json, saved after every test, so a line
that fails or crashes never loses what the others found. Domains are known only through
the registry (toolkit.domains): a `Plan` is a domain and its options.
"""

from __future__ import annotations

import contextlib
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

from toolkit import __version__, domains, kernel_log, kernels
from toolkit.config import Settings
from toolkit.domains import options
from toolkit.domains.base import Domain, Subject, Target, run_cases
from toolkit.domains.selection import EVERY_TEST, Selection
from toolkit.errors import UserError
from toolkit.files import remove_tree
from toolkit.host_capacity import HOST_RESERVE_MIB, MIB, host_vitals, require_host_capacity
from toolkit.host_pool import HostPool
from toolkit.interrupts import Interrupted
from toolkit.kernels import KernelLine
from toolkit.machines import providers, registry
from toolkit.machines.leftovers import MATRIX_PREFIX
from toolkit.machines.protocol import Machine, MachineError
from toolkit.machines.vagrant import libvirt_capacity
from toolkit.progress import Progress
from toolkit.results import store
from toolkit.results.records import DomainRun, PlannedRun, RunRecord, RunState, TestRecord


@dataclass(frozen=True)
class Plan:
    """One domain to run, with its options, and which of its tests how often."""

    domain: Domain[Any]
    options: Any
    selection: Selection = EVERY_TEST


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


def plan(domain_name: str, values: dict[str, Any], selection: Selection = EVERY_TEST, quick: bool = False) -> Plan:
    """The named domain with options parsed from command-line values (None: the domain's default, or with quick
    its quick value)."""
    domain = domains.select(domain_name)
    known = {field.name for field in dataclasses.fields(domain.options)}
    given = {k: v for k, v in values.items() if k in known}
    if quick:
        given.update({k: v for k, v in domain.quick.items() if given.get(k) is None})
    return Plan(domain, options.parse(domain.options, given), selection)


def check(plans: Sequence[Plan], settings: Settings) -> None:
    """Every plan's constraints before anything starts, all problems in one UserError (the results folder was
    checked with the settings: Settings.validate)."""
    problems = [problem for plan in plans for problem in plan.domain.constraints(plan.options, settings)]
    if problems:
        raise UserError("; ".join(dict.fromkeys(problems)))


class Run:
    """One results folder that several lines add to, from several threads; saved on every change.

    It states its plan (every test it means to give a verdict for) and where it stands: running until
    it ends finished or interrupted, and then every planned test it has no verdict for is an error
    saying why. Nothing is written until there is something to say (a test, a line given up, an
    interruption), so a run refused at its start leaves no folder behind and `latest` where it was.
    """

    def __init__(self, results_root: Path, plan: Sequence[PlannedRun]) -> None:
        self.results_root = results_root
        self.run_id = store.new_run_id()
        self.dir = results_root / self.run_id
        self.started = _now()
        self.host = host_info()
        self.plan = tuple(plan)
        self.state = RunState.RUNNING
        self._unrun_reason = ""
        self._runs: dict[tuple[str, str, str], DomainRun] = {}
        self._lock = threading.Lock()
        self._held = contextlib.ExitStack()
        self._holding = False

    def folder(self, line: str) -> Path:
        """A line's folder in the run's, made now; the run's folder is held (`store.held`) until `close`."""
        with self._lock:
            self._hold()
        path = self.dir / line
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _hold(self) -> None:
        if not self._holding:
            self._held.enter_context(store.held(self.dir))
            self._holding = True

    def put(self, run: DomainRun) -> RunRecord:
        """Add a domain run, or replace the one for the same line, domain and subject (its tests so far).

        Once the run has ended the record is frozen: what lines still running say then is not kept.
        """
        with self._lock:
            if self.state is RunState.RUNNING:
                self._runs[(run.kernel_line, run.domain, run.subject.name)] = run
            return self._save()

    def give_up(self, line: str, reason: str) -> RunRecord:
        """A line that cannot go on (its machine lost, never started): each planned test of it without a verdict
        is an error saying reason."""
        with self._lock:
            runs = tuple(self._runs.values())
            for planned in self.plan if self.state is RunState.RUNNING else ():
                if planned.kernel_line == line:
                    for run in planned.unrun(runs, f"not run: {reason}"):
                        self._runs[(run.kernel_line, run.domain, run.subject.name)] = run
            return self._save()

    def interrupt(self, stop: Interrupted) -> RunRecord:
        """Mark the run interrupted and save it as it stands, the tests it did not reach errors saying so."""
        with self._lock:
            self._end(RunState.INTERRUPTED, f"not run: the run was interrupted by {stop}")
            return self._save()

    def save(self) -> RunRecord:
        with self._lock:
            return self._save()

    def close(self) -> RunRecord:
        """End the run as finished (when it was still running and recorded anything), save it a last time and let
        its folder go; a run that recorded nothing leaves no folder."""
        with self._lock:
            if self._runs:
                self._end(RunState.FINISHED, "not run: the run ended before it reached this test")
            record = self._save()
        self._held.close()
        if self.state is RunState.RUNNING:
            remove_tree(self.dir)
        return record

    def _end(self, state: RunState, unrun_reason: str) -> None:
        if self.state is RunState.RUNNING:
            self.state, self._unrun_reason = state, unrun_reason

    def _save(self) -> RunRecord:
        order = {line.name: index for index, line in enumerate(kernels.every_line())}
        runs = sorted(self._runs.values(), key=lambda r: (order.get(r.kernel_line, 99), r.domain, r.subject.name))
        record = RunRecord(self.run_id, self.started, _now(), __version__, self.host, tuple(runs), self.state,
                           self.plan)  # fmt: skip
        if self.state is not RunState.RUNNING:
            record = record.ended(self.state, self._unrun_reason, record.finished)
        if runs or self.state is not RunState.RUNNING:
            self._hold()
            store.write(self.results_root, record)
        return record


def planned(settings: Settings, plans: Sequence[Plan], lines: Sequence[KernelLine]) -> list[PlannedRun]:
    """The tests a run of plans on lines means to give a verdict for."""
    return [PlannedRun(line.name, plan.domain.name, settings.provider, plan.domain.describe(plan.options),
                       tuple(case.name for case in plan.selection.cases(plan.domain.cases)))
            for line in lines for plan in plans]  # fmt: skip


def _keep_logs(machine: Machine, out: Path) -> None:
    logs = out / "vm"
    logs.mkdir(parents=True, exist_ok=True)
    for log in machine.log_files():
        if log.exists():
            shutil.copyfile(log, logs / log.name)


def _bring_up(machine: Machine, settings: Settings, progress: Progress) -> None:
    """Start the VM (in the run's debug tier), or check the one already running: a guest left dirty by an
    earlier command is rolled back."""
    if machine.record.debug != settings.debug:
        require_host_capacity(settings)
        with progress.step(f"VM {machine.name} from debug tier {machine.record.debug} to {settings.debug}"):
            machine.use_debug(settings.debug)
        return
    if not machine.running():
        require_host_capacity(settings)
        with progress.step(f"VM {machine.name} up"):
            machine.up()
        return
    reason = dirty_reason(machine)
    if reason:
        with progress.step(f"VM {machine.name} was left {reason}: rolling it back to its ready snapshot"):
            machine.reset()


def dirty_reason(machine: Machine) -> str:
    """Why a running VM is unfit for a run (it does not answer, out-of-tree modules are loaded, its kernel
    logged a problem), or "" when it is clean."""
    probe = "grep -c '(.*O.*)' /proc/modules; dmesg"
    try:
        result = machine.run(probe, timeout=30, sudo=True)
    except MachineError as error:
        return f"unreachable ({error})"
    count, _, log = result.stdout.partition("\n")
    if count.strip() not in ("", "0"):
        return f"with {count.strip()} out-of-tree module(s) loaded"
    problems = kernel_log.classify(log.splitlines())
    return f"dirty ({problems[0].summary()})" if problems else ""


def run_line(settings: Settings, plans: Sequence[Plan], vm_name: str, run: Run) -> None:
    """Each plan's domain on one line's VM, results saved after every test; the VM's logs kept with them."""
    line = kernels.select(settings.kernel)
    progress = Progress(line.name)
    machine = registry.define(settings, vm_name)
    out = run.folder(line.name)
    try:
        _bring_up(machine, settings, progress)
        accel = machine.status().accel
        release = machine.run("uname -r", timeout=30, sudo=True).stdout.strip()
        target = Target(machine, release, out, progress, machine.record.debug, line.slowdown)
        for plan in plans:
            for subject in plan.domain.subjects(target, plan.options):
                base = DomainRun(release, line.name, machine.provider, accel, subject.info, plan.domain.name, (),
                                 machine.box.kernel_package_version, machine.record.debug,
                                 machine.record.libvirt_uri)  # fmt: skip

                def save(records: list[TestRecord], base: DomainRun = base, subject: Subject = subject) -> None:
                    newest = records[-1]
                    metrics = {**newest.metrics, "host": host_vitals(settings)}
                    tests = (*records[:-1], dataclasses.replace(newest, metrics=metrics))
                    run.put(dataclasses.replace(base, tests=tests, surface=subject.surface))

                label = Progress(f"{line.name} {subject.info.name}")
                run_cases(plan.domain.cases, subject, label, save, plan.selection)
    finally:
        _keep_logs(machine, out)


def _abandon(settings: Settings, vm_name: str, existed: bool) -> None:
    """After an interruption: a VM the run created goes; one that was there is rolled back (or goes)."""
    try:
        machine = registry.open_existing(settings, vm_name)
    except UserError:
        return
    if existed and machine.has_snapshots:
        try:
            machine.reset()
            return
        except MachineError:
            pass
    machine.destroy()


def single_run(settings: Settings, plans: Sequence[Plan], vm_name: str, results_root: Path) -> RunRecord:
    """One line: the configured kernel on the VM called vm_name, held for the run."""
    check(plans, settings)
    registry.check_name(settings, vm_name)
    line = kernels.select(settings.kernel)
    run = Run(results_root, planned(settings, plans, [line]))
    with registry.locked(settings, vm_name, "a test run"):
        existed = registry.exists(settings, vm_name)
        try:
            run_line(settings, plans, vm_name, run)
        except Interrupted as stop:
            run.interrupt(stop)
            _abandon(settings, vm_name, existed)
            raise
        except MachineError as error:
            Progress(line.name).say(f"the machine was lost, the tests not run are errors: {error}")
            run.give_up(line.name, f"the machine was lost: {error}")
        finally:
            record = run.close()
    return record


# vCPUs per host CPU a matrix runs by default: a guest's work under TCG is mostly one exec after another, so one
# busy vCPU per VM (2-core host, 4 lines: 112 s two VMs at once, 205 s one at a time, 102 s four at once).
VCPUS_PER_CPU = 2


def parallel_jobs(settings: Settings, lines: int, requested: int | None = None) -> int:
    """VMs at once: up to VCPUS_PER_CPU vCPUs per host CPU, or `requested` (more VMs share the CPUs, each then
    slower), never more than memory allows."""
    by_cpu = max(1, (psutil.cpu_count() or 1) * VCPUS_PER_CPU // settings.cpus)
    by_memory = max(1, (psutil.virtual_memory().available // MIB - HOST_RESERVE_MIB) // settings.memory_mib)
    if requested is not None and requested < 1:
        raise UserError(f"--jobs must be at least 1, not {requested}")
    return min(requested or by_cpu, by_memory, lines)


def host_pool(settings: Settings, lines: int, requested: int | None = None, hosts: Sequence[str] = ()) -> HostPool:
    """Where a matrix's lines run and how many at once on each: this machine by its CPUs and memory (qemu), or
    each libvirt host (vagrant: `hosts`, else the configured one) by what its libvirt reports; at most `requested`."""
    if settings.provider != "vagrant":
        if hosts:
            raise UserError("--hosts spreads lines over libvirt hosts: it needs --provider vagrant")
        return HostPool({"": parallel_jobs(settings, lines, requested)})
    if requested is not None and requested < 1:
        raise UserError(f"--jobs must be at least 1, not {requested}")
    slots = {}
    for uri in dict.fromkeys(hosts or [settings.libvirt_uri]):
        providers.provider_class("vagrant").require_host_tools(dataclasses.replace(settings, libvirt_uri=uri))
        slots[uri] = libvirt_capacity.read(uri).vms(settings.cpus, settings.memory_mib)
    return HostPool(slots, min(lines, requested or lines))


def matrix_vm(line: KernelLine, name: str | None = None) -> str:
    """The VM a matrix run gives a line: matrix-LINE, or matrix-NAME-LINE for a run given a name."""
    return f"{MATRIX_PREFIX}{f'{name}-' if name else ''}{line.name}"


def matrix_run(
    settings: Settings, plans: Sequence[Plan], lines: list[KernelLine], hosts: HostPool, results_root: Path,
    on_line_done: Callable[[KernelLine, str], None] = lambda line, outcome: None, name: str | None = None,
) -> RunRecord:  # fmt: skip
    """Every line in parallel, each on a host as one frees up and on its VM (`matrix_vm`); a line that fails to
    start is an error for that line only."""
    check(plans, settings)
    run = Run(results_root, planned(settings, plans, lines))

    def one(line: KernelLine) -> None:
        with hosts.host() as host:
            line_settings = dataclasses.replace(settings, kernel=line.name, libvirt_uri=host or settings.libvirt_uri)
            where = f" on {host}" if host else ""
            vm_name = matrix_vm(line, name)
            try:
                with registry.locked(line_settings, vm_name, "a matrix run"):
                    try:
                        run_line(line_settings, plans, vm_name, run)
                    finally:
                        _destroy_quietly(line_settings, vm_name)
                on_line_done(line, f"done{where}")
            except (UserError, MachineError) as error:
                run.give_up(line.name, f"{type(error).__name__}: {error}")
                on_line_done(line, f"error{where}: {error}")

    pool = ThreadPoolExecutor(max_workers=min(hosts.total, len(lines)))
    try:
        for future in [pool.submit(one, line) for line in lines]:
            future.result()
    except Interrupted as stop:
        run.interrupt(stop)
        pool.shutdown(wait=False, cancel_futures=True)
        for line in lines:
            _destroy_quietly(dataclasses.replace(settings, kernel=line.name), matrix_vm(line, name))
        raise
    finally:
        record = run.close()
    pool.shutdown()
    return record


def _destroy_quietly(settings: Settings, vm_name: str) -> None:
    """Destroy a VM of this run's (one another process holds is not ours to destroy)."""
    try:
        registry.destroy(settings, vm_name)
    except (UserError, MachineError):
        pass
