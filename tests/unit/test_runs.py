"""The runner with a small domain of its own on scripted guests: any registered domain runs the same way."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.scripted import Answer, ScriptedMachine
from toolkit import config, domains, host_capacity, host_pool, kernels, pipeline, plans, run_machines
from toolkit.domains.base import Domain, Health, Target, Verdict
from toolkit.domains.guest import Guest
from toolkit.domains.options import option
from toolkit.errors import UserError
from toolkit.host_pool import HostPool
from toolkit.interrupts import Interrupted
from toolkit.machines.protocol import GuestUnreachable
from toolkit.results import schema
from toolkit.results.records import RunState, Status, SubjectInfo, SurfaceEntry


@dataclass(frozen=True)
class ToyOptions:
    word: str = option("hello", "what to echo")
    rounds: int = option(1, "how many times", minimum=1)


@dataclass
class Toy:
    guest: Guest
    results: Path
    recovered: int = 0
    surface: tuple[SurfaceEntry, ...] = ()

    @property
    def info(self) -> SubjectInfo:
        return SubjectInfo("toy", "toy-1", "here", "1")

    def health(self) -> Health:
        return Health(self.guest.root("echo ok").stdout == "ok\n", {"load_1m": 0.5})

    def recover(self) -> str:
        self.recovered += 1
        return "guest rolled back"

    def evidence(self) -> list[str]:
        return self.guest.evidence()

    def audit(self, case: str) -> Verdict | None:
        return None

    def symbolize(self, verdict: Verdict) -> Verdict:
        return verdict


class Echo:
    name, needs = "echo", ()

    def run(self, subject: Toy) -> Verdict:
        step = subject.guest.step("echo", "echo hello", 5)
        return Verdict.passed(step.result.stdout.strip())


class SeesEchoSaved:
    """Reads results.json mid-run: the echo test must already be in it."""

    name, needs = "saved", ("echo",)

    def run(self, subject: Toy) -> Verdict:
        [run_dir] = [p for p in subject.results.iterdir() if p.is_dir() and not p.is_symlink()]
        saved = json.loads((run_dir / "results.json").read_text())
        return Verdict.passed(",".join(test["name"] for test in saved["runs"][0]["tests"]))


class LosesTheGuest:
    name, needs = "lost", ()

    def run(self, subject: Toy) -> Verdict:
        subject.guest.root("vanish")
        return Verdict.passed("unreachable")


def _toy_domain(results: Path) -> Domain[ToyOptions]:
    def subjects(target: Target, chosen: ToyOptions) -> Iterator[Toy]:
        yield Toy(Guest(target.machine), results)

    return Domain("toy", "a toy domain", (Echo(), SeesEchoSaved(), LosesTheGuest()), ToyOptions, subjects,
                  lambda chosen: SubjectInfo("toy", "toy-1", "here"),
                  lambda chosen, settings: [] if chosen.rounds < 5 else ["too many rounds"])  # fmt: skip


@pytest.fixture
def settings(tmp_path: Path) -> config.Settings:
    return config.load({"cache_dir": str(tmp_path / "cache"), "state_dir": str(tmp_path / "state")}, environ={})


def _machine() -> ScriptedMachine:
    return ScriptedMachine({"uname -r": Answer("6.1.0-50-amd64\n"), "echo ok": Answer("ok\n"),
                            "vanish": Answer(unreachable=True), "echo hello": Answer("hello\n")}, provider="qemu")  # fmt: skip


def test_a_domain_runs_on_one_line_with_results_saved_after_every_test(settings, tmp_path, monkeypatch) -> None:
    machine = _machine()
    monkeypatch.setattr(pipeline.registry, "define", lambda settings, name: machine)
    plan = plans.Plan(_toy_domain(tmp_path / "results"), ToyOptions())
    record = pipeline.one_vm(settings, [plan], "vm", tmp_path / "results")
    [run] = record.runs
    assert (run.domain, run.subject.name, run.kernel, run.accel, run.kernel_package) == (
        "toy", "toy-1", "6.1.0-50-amd64", "tcg", "6.1.176-1")  # fmt: skip
    assert [(t.name, t.status, t.message) for t in run.tests] == [
        ("echo", Status.PASSED, "hello"),
        ("saved", Status.PASSED, "echo"),
        ("lost", Status.ERROR, "guest trouble: lost the guest while running 'vanish' (command: vanish) [guest rolled back]"),
    ]  # fmt: skip
    assert run.tests[0].metrics["guest"] == {"load_1m": 0.5}
    saved = json.loads((tmp_path / "results" / record.run_id / "results.json").read_text())
    assert schema.problems(saved) == []
    assert saved["summary"] == {"passed": 2, "failed": 0, "error": 1, "flaky": 0, "skipped": 0, "known": 0}


def test_a_line_that_cannot_start_is_an_error_for_that_line_only(settings, tmp_path, monkeypatch) -> None:
    machines_by_line = {"6.1": _machine()}

    def define(line_settings: config.Settings, name: str) -> ScriptedMachine:
        if line_settings.kernel not in machines_by_line:
            raise UserError(f"no box for {line_settings.kernel}")
        return machines_by_line[line_settings.kernel]

    monkeypatch.setattr(pipeline.registry, "define", define)
    monkeypatch.setattr(
        pipeline.registry, "open_existing", lambda s, name: machines_by_line.get(s.kernel) or _missing(name)
    )
    done: list[str] = []
    plan = plans.Plan(_toy_domain(tmp_path / "results"), ToyOptions())
    lines = kernels.select_many("6.1,6.12")
    hosts = HostPool({"": 2})
    record = pipeline.matrix(
        settings, [plan], lines, hosts, tmp_path / "results", lambda line, how: done.append(line.name)
    )
    assert [run.kernel_line for run in record.runs] == ["6.1", "6.12"]
    assert {t.status for t in record.runs[1].tests} == {Status.ERROR}
    assert record.runs[1].tests[0].message == "not run: UserError: no box for 6.12"
    assert record.state is RunState.FINISHED and record.planned_tests() == 2 * len(plan.domain.test_names)
    assert sorted(done) == ["6.1", "6.12"] and machines_by_line["6.1"].destroyed


def _missing(name: str) -> ScriptedMachine:
    raise UserError(f"no VM called {name!r}")


def test_constraints_of_every_plan_are_checked_before_anything_starts(settings, tmp_path) -> None:
    plan = plans.Plan(_toy_domain(tmp_path), ToyOptions(rounds=9))
    with pytest.raises(UserError, match="too many rounds"):
        pipeline.one_vm(settings, [plan], "vm", tmp_path / "results")
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_a_plan_names_a_registered_domain_and_parses_its_options(tmp_path) -> None:
    plan = plans.plan("kernel_module", {"module_dir": str(tmp_path), "cycles": "7", "jobs": 3})
    assert plan.domain is domains.select("kernel_module") and plan.options.cycles == 7
    with pytest.raises(UserError, match="unknown domain 'nope': choose one of filesystem, kernel_module"):
        plans.plan("nope", {})


def test_parallel_jobs_fit_the_cpus_unless_asked_for_and_never_exceed_memory_or_lines(settings, monkeypatch) -> None:
    monkeypatch.setattr(host_pool.psutil, "cpu_count", lambda: 2)
    assert host_pool.parallel_jobs(dataclasses.replace(settings, cpus=2), 4) == 2, "two vCPUs per host CPU"
    assert host_pool.parallel_jobs(dataclasses.replace(settings, cpus=4), 4) == 1
    assert host_pool.parallel_jobs(dataclasses.replace(settings, cpus=64), 4) == 1
    assert host_pool.parallel_jobs(dataclasses.replace(settings, cpus=64), 4, requested=2) == 2, (
        "asked: CPUs are shared"
    )
    assert host_pool.parallel_jobs(settings, 4, requested=1) == 1
    assert host_pool.parallel_jobs(settings, 2, requested=3) == 2
    assert host_pool.parallel_jobs(dataclasses.replace(settings, memory_mib=2**30), 4, requested=2) == 1
    with pytest.raises(UserError, match="--jobs must be at least 1"):
        host_pool.parallel_jobs(settings, 4, requested=0)


def test_a_running_vm_left_dirty_is_rolled_back_before_the_run(settings, tmp_path, monkeypatch) -> None:
    machine = _machine()
    machine.is_running = True
    machine.rules["/proc/modules"] = Answer("1\n[ 5.0] BUG: kernel NULL pointer dereference, address: 0\n")
    monkeypatch.setattr(pipeline.registry, "define", lambda settings, name: machine)
    pipeline.one_vm(settings, [plans.Plan(_toy_domain(tmp_path / "results"), ToyOptions())], "vm", tmp_path / "results")
    assert machine.resets == 1 and "UP" not in machine.commands


def test_why_a_running_vm_is_unfit_is_said_in_the_kernels_words() -> None:
    clean = ScriptedMachine({"/proc/modules": Answer("0\n[ 1.0] Linux version 6.1\n")})
    oops = ScriptedMachine({"/proc/modules": Answer("0\n[ 5.0] BUG: kernel NULL pointer dereference, address: 0\n")})
    gone = ScriptedMachine({"/proc/modules": Answer(unreachable=True)})
    assert run_machines.dirty_reason(clean) == ""  # type: ignore[arg-type]
    assert run_machines.dirty_reason(oops) == "dirty (BUG: unable to handle kernel NULL pointer dereference)"  # type: ignore[arg-type]
    assert run_machines.dirty_reason(gone).startswith("unreachable (lost the guest")  # type: ignore[arg-type]


def test_an_interrupted_run_saves_what_it_has_marked_interrupted_and_rolls_its_vm_back(
    settings, tmp_path, monkeypatch
) -> None:
    machine = _machine()
    machine.rules["echo hello"] = Answer("hello\n")
    monkeypatch.setattr(pipeline.registry, "define", lambda settings, name: machine)
    monkeypatch.setattr(pipeline.registry, "open_existing", lambda settings, name: machine)
    monkeypatch.setattr(pipeline.registry, "exists", lambda settings, name: True)

    class Interrupting(Echo):
        name, needs = "stopped", ()

        def run(self, subject: Toy) -> Verdict:
            raise Interrupted(signal.SIGTERM)

    domain = dataclasses.replace(_toy_domain(tmp_path / "results"), cases=(Echo(), Interrupting(), Echo()))
    with pytest.raises(Interrupted):
        pipeline.one_vm(settings, [plans.Plan(domain, ToyOptions())], "vm", tmp_path / "results")
    saved = json.loads((tmp_path / "results" / "latest" / "results.json").read_text())
    assert saved["interrupted"] is True and saved["state"] == "interrupted"
    tests = {test["name"]: (test["status"], test["message"]) for test in saved["runs"][0]["tests"]}
    assert tests == {"echo": ("passed", "hello"), "stopped": ("error", "not run: the run was interrupted by SIGTERM")}
    assert machine.resets == 1 and not machine.destroyed


def test_a_run_refused_at_its_start_writes_nothing(settings, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pipeline.registry, "define", lambda settings, name: _missing(name))
    with pytest.raises(UserError):
        pipeline.one_vm(settings, [plans.Plan(_toy_domain(tmp_path), ToyOptions())], "vm", tmp_path / "results")
    assert not (tmp_path / "results").exists()


def test_a_vm_in_use_by_another_process_is_refused_at_once(settings, tmp_path) -> None:
    from toolkit.machines import vm_record

    vm_dir = vm_record.vm_dir(settings, "busy")
    vm_dir.mkdir(parents=True)
    holder = subprocess.Popen(
        ["flock", str(vm_dir / "lock"), "-c", "echo 'pid 4242 (a test run)' > " + str(vm_dir / "lock") + "; sleep 30"]
    )
    try:
        time.sleep(0.5)
        with pytest.raises(UserError, match="VM 'busy' is in use by pid 4242 \\(a test run\\): wait for it"):
            pipeline.one_vm(settings, [plans.Plan(_toy_domain(tmp_path), ToyOptions())], "busy", tmp_path / "results")
    finally:
        holder.kill()


def test_a_host_without_room_for_a_vm_starts_none(settings, monkeypatch) -> None:
    monkeypatch.setattr(
        host_capacity, "host_vitals", lambda settings: {"mem_available_mib": 900, "load_1m": 1.0, "disk_free_gib": 50.0}
    )
    with pytest.raises(UserError, match="the host has 900 MiB available, a VM needs 2048 MiB"):
        host_capacity.require_host_capacity(settings)


def test_a_machine_lost_mid_run_leaves_a_verdict_for_every_planned_test(settings, tmp_path, monkeypatch) -> None:
    machine = _machine()
    monkeypatch.setattr(pipeline.registry, "define", lambda settings, name: machine)

    class Gone(Toy):
        def recover(self) -> str:
            raise GuestUnreachable("VM 'vm' is lost: its folder was removed while it was in use")

    domain = dataclasses.replace(_toy_domain(tmp_path / "results"), cases=(LosesTheGuest(), Echo()),
                                 subjects=lambda target, chosen: iter([Gone(Guest(target.machine), tmp_path)]))  # fmt: skip
    record = pipeline.one_vm(settings, [plans.Plan(domain, ToyOptions())], "vm", tmp_path / "results")
    gone = "VM 'vm' is lost: its folder was removed while it was in use"
    assert [(t.name, t.status, t.message) for t in record.runs[0].tests] == [
        ("lost", Status.ERROR, "guest trouble: lost the guest while running 'vanish' (command: vanish) "
                               f"[the guest could not be recovered: {gone}]"),
        ("echo", Status.ERROR, f"not run: the machine was lost: {gone}")]  # fmt: skip
    assert record.state is RunState.FINISHED and record.exit_status() == 1
