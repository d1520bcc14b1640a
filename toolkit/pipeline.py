"""A test run, top to bottom: what `test.kernel`, `test.fs`, `test.all` and `test.matrix` do once their flags
were read (toolkit/run_options.py resolved them into settings, plans and kernel lines).

    check everything once          plans.check: every domain's constraints, before anything starts
    open the results folder        ResultsFolder: the plan recorded, saved after every test
    for each kernel line           one VM (`one_vm`), or every line in parallel (`matrix`)
      acquire its machine          locked by name, brought up clean (run_machines)
      for each plan's subject      the domain finds them on the machine (Domain.subjects)
        run the cases              base.case_records: records after every case, as the known failures say;
                                   on one VM, the long ones its last run timed on a second guest (lanes.py)
          persist                  ResultsFolder.put: results.json, the VM's logs kept beside it
    close the results folder       every planned test has a verdict; the task prints the report

One vocabulary throughout: a *run* is one invocation and its results folder; a *line* a kernel line and
its VM; a *plan* a domain with its options; a *subject* what a domain's tests work on (a module, a
filesystem); a *case* one test; its *verdict* what it concluded, kept as a *record*.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from toolkit import kernels, run_machines
from toolkit.config import Settings
from toolkit.domains import lanes
from toolkit.domains.base import SecondGuest, Subject, Target, case_records
from toolkit.errors import UserError
from toolkit.host_capacity import host_vitals
from toolkit.host_pool import HostPool
from toolkit.interrupts import Interrupted
from toolkit.kernels import KernelLine
from toolkit.known_failures import KnownOnKernel
from toolkit.machines import registry
from toolkit.machines.protocol import Machine, MachineError
from toolkit.plans import Plan, check, planned
from toolkit.progress import Progress
from toolkit.results.folder import ResultsFolder
from toolkit.results.records import RunRecord, SubjectResults, TestRecord


def one_vm(settings: Settings, plans: Sequence[Plan], vm_name: str, results_root: Path) -> RunRecord:
    """The configured kernel line on the VM called vm_name, held for the run and kept after it."""
    check(plans, settings)
    registry.check_name(settings, vm_name)
    line = kernels.select(settings.kernel)
    results = ResultsFolder(results_root, planned(settings, plans, [line]))
    with registry.locked(settings, vm_name, "a test run"):
        existed = registry.exists(settings, vm_name)
        try:
            test_line(settings, plans, registry.define(settings, vm_name), results, apart=True)
        except Interrupted as stop:
            results.interrupt(stop)
            run_machines.abandon(settings, vm_name, existed)
            raise
        except MachineError as error:
            Progress(line.name).say(f"the machine was lost, the tests not run are errors: {error}")
            results.give_up(line.name, f"the machine was lost: {error}")
        finally:
            record = results.close()
    return record


def matrix(
    settings: Settings, plans: Sequence[Plan], lines: list[KernelLine], hosts: HostPool, results_root: Path,
    on_line_done: Callable[[KernelLine, str], None] = lambda line, outcome: None, name: str | None = None,
) -> RunRecord:  # fmt: skip
    """Every line in parallel, each on a host as one frees up and on a VM of its own (`run_machines.matrix_vm`),
    destroyed after it; a line that fails to start is an error for that line only."""
    check(plans, settings)
    results = ResultsFolder(results_root, planned(settings, plans, lines))

    def one(line: KernelLine) -> None:
        with hosts.host() as host:
            line_settings = dataclasses.replace(settings, kernel=line.name, libvirt_uri=host or settings.libvirt_uri)
            where = f" on {host}" if host else ""
            vm_name = run_machines.matrix_vm(line, name)
            try:
                with registry.locked(line_settings, vm_name, "a matrix run"):
                    try:
                        test_line(line_settings, plans, registry.define(line_settings, vm_name), results)
                    finally:
                        run_machines.destroy_quietly(line_settings, vm_name)
                on_line_done(line, f"done{where}")
            except (UserError, MachineError) as error:
                results.give_up(line.name, f"{type(error).__name__}: {error}")
                on_line_done(line, f"error{where}: {error}")

    pool = ThreadPoolExecutor(max_workers=min(hosts.total, len(lines)))
    try:
        for future in [pool.submit(one, line) for line in lines]:
            future.result()
    except Interrupted as stop:
        results.interrupt(stop)
        pool.shutdown(wait=False, cancel_futures=True)
        for line in lines:
            run_machines.destroy_quietly(dataclasses.replace(settings, kernel=line.name),
                                         run_machines.matrix_vm(line, name))  # fmt: skip
        raise
    finally:
        record = results.close()
    pool.shutdown()
    return record


def test_line(
    settings: Settings, plans: Sequence[Plan], machine: Machine, results: ResultsFolder, apart: bool = False
) -> None:
    """One line: its machine up and clean, then each plan's subjects and their cases, every record saved as it
    comes; the VM's logs kept with the results. With apart, the cases the subject's last run says are worth it
    run on a second guest meanwhile (lanes.py)."""
    line = kernels.select(settings.kernel)
    progress = Progress(line.name)
    out = results.folder(line.name)
    try:
        run_machines.bring_up(machine, settings, progress)
        accel = machine.status().accel
        release = machine.run("uname -r", timeout=30, sudo=True).stdout.strip()
        target = Target(machine, release, out, progress, machine.record.debug, line.slowdown)
        known = KnownOnKernel(settings.known_failures, line.name, release)
        for plan in plans:
            for subject in plan.domain.subjects(target, plan.options):
                about = SubjectResults(release, line.name, machine.provider, accel, subject.info, plan.domain.name, (),
                                  machine.box.kernel_package_version, machine.record.debug,
                                  machine.record.libvirt_uri)  # fmt: skip
                label = Progress(f"{line.name} {subject.info.name}")
                on_second: list[Subject] = []  # the subject on a second guest, once it started
                second = _second_guest(settings, machine, target, subject, plan, results, on_second) if apart else None
                for records in case_records(plan.domain.cases, subject, label, plan.selection, known, second):
                    results.put(_with_records(about, records, [subject, *on_second], settings))
    finally:
        run_machines.keep_logs(machine, out)


def _second_guest(
    settings: Settings, machine: Machine, target: Target, subject: Subject, plan: Plan, results: ResultsFolder,
    on_second: list[Subject],
) -> SecondGuest | None:  # fmt: skip
    """A second guest for the subject's cases its last run on the line says are worth running apart (qemu
    provider, one round), the subject there added to on_second when it starts; None when none are."""
    from toolkit.machines.qemu.provider import QemuMachine  # loaded with the provider, not at a command's start

    if not isinstance(machine, QemuMachine) or plan.selection.repeat > 1:
        return None
    durations = lanes.last_durations(results.earlier(), kernels.select(settings.kernel).name, plan.domain.name,
                                     subject.info)  # fmt: skip
    apart = lanes.apart(plan.selection.cases(plan.domain.cases), durations)
    if not apart:
        return None
    second = run_machines.SecondMachine(settings, machine, target.work_dir)
    progress = Progress(f"{target.progress.label} {subject.info.name}, 2nd guest")

    def start() -> Subject:
        second.reserve()
        with progress.step(f"VM {second.name} up, for {', '.join(apart)}"):
            started = second.up()
        on_second.append(subject.on(dataclasses.replace(target, machine=started).guest()))
        return on_second[-1]

    return SecondGuest(apart, start, second.interrupt, second.stop, progress)


def _with_records(
    about: SubjectResults, records: list[TestRecord], subjects: Sequence[Subject], settings: Settings
) -> SubjectResults:
    """A subject's results so far, the newest record with the host's vitals as it ended; its surface as the guest
    whose tests found it saw it."""
    newest = records[-1]
    tests = (*records[:-1], dataclasses.replace(newest, metrics={**newest.metrics, "host": host_vitals(settings)}))
    surface = next((subject.surface for subject in subjects if subject.surface), ())
    return dataclasses.replace(about, tests=tests, surface=surface)
