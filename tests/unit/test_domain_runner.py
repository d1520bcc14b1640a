"""The domain runner: prerequisites, skips with reasons, recovery of a dirty guest."""

import datetime
from dataclasses import dataclass, field, replace

import pytest

from toolkit.domains.base import Domain, Health, Verdict, case_records, every_record
from toolkit.machines.protocol import GuestUnreachable
from toolkit.progress import Progress
from toolkit.results.records import Status, SubjectInfo


@dataclass
class Guest:
    """Stands in for the subject's guest; the runner under test is real."""

    alive: bool = True
    recoveries: list[str] = field(default_factory=list)
    console_problems: tuple[str, ...] = ("[ 1.0] BUG: kernel NULL pointer dereference",)
    audits: dict[str, Verdict] = field(default_factory=dict)
    places: dict[str, str] = field(default_factory=dict)  # what symbolize puts in place of a message's words
    info: SubjectInfo = SubjectInfo("module", "m", "/src/m")

    def health(self) -> Health:
        return Health(self.alive)

    def recover(self) -> str:
        self.recoveries.append("reset")
        self.alive = True
        return "guest rolled back to its ready snapshot"

    def evidence(self) -> list[str]:
        return list(self.console_problems)

    def audit(self, case: str) -> Verdict | None:
        return self.audits.get(case)

    def symbolize(self, verdict: Verdict) -> Verdict:
        message = verdict.message
        for said, place in self.places.items():
            message = message.replace(said, place)
        return replace(verdict, message=message, kernel_log_symbolized=(message,) if message != verdict.message else ())


@dataclass
class Case:
    name: str
    verdict: Verdict | None = None
    needs: tuple[str, ...] = ()
    crash: bool = False

    def run(self, guest: Guest) -> Verdict:
        if self.crash:
            guest.alive = False
            raise GuestUnreachable("no SSH answer", command="rmmod m")
        assert self.verdict is not None
        return self.verdict


def _progress() -> Progress:
    import io

    return Progress("t", io.StringIO())


def test_cases_whose_prerequisite_failed_are_skipped_with_its_reason() -> None:
    cases = [
        Case("build", Verdict.passed("ok")),
        Case("load", Verdict.failed("insmod failed: No such device (ENODEV)"), ("build",)),
        Case("unload", Verdict.passed("ok"), ("load",)),
        Case("stress", Verdict.passed("ok"), ("unload",)),
    ]
    records = every_record(cases, Guest(), _progress())
    assert [r.status for r in records] == [Status.PASSED, Status.FAILED, Status.SKIPPED, Status.SKIPPED]
    assert records[2].message == "needs load to pass (load failed: insmod failed: No such device (ENODEV))"
    assert records[3].message == records[2].message


def test_only_a_red_verdict_is_symbolized_and_its_record_keeps_both_kernel_logs() -> None:
    guest = Guest(places={"m_init+0x21": "m.c:13 (m_init)"})
    cases = [
        Case("load", Verdict.passed("loaded; m_init+0x21 named")),
        Case("memory_leak", Verdict.failed("leaked 1 objects, 8 bytes: m_init+0x21: 1 x", ["call_site=m_init+0x21"])),
    ]
    load, leak = every_record(cases, guest, _progress())
    assert load.message == "loaded; m_init+0x21 named" and load.kernel_log_symbolized == ()
    assert leak.message == "leaked 1 objects, 8 bytes: m.c:13 (m_init): 1 x"
    assert leak.kernel_log == ("call_site=m_init+0x21",) and leak.kernel_log_symbolized == (leak.message,)


def test_a_dirty_guest_is_recovered_before_the_next_case() -> None:
    guest = Guest()
    cases = [Case("unload", Verdict.failed("oops", guest_dirty=True)), Case("errors", Verdict.passed("ok"))]
    records = every_record(cases, guest, _progress())
    assert guest.recoveries == ["reset"]
    assert records[0].message == "oops [guest rolled back to its ready snapshot]"
    assert records[1].status is Status.PASSED


def test_a_guest_lost_mid_case_with_an_oops_on_its_console_fails_with_it_and_the_run_goes_on() -> None:
    guest = Guest()
    records = every_record([Case("unload", crash=True), Case("errors", Verdict.passed("ok"))], guest, _progress())
    assert records[0].status is Status.FAILED
    assert records[0].message.startswith(
        "the guest stopped answering (no SSH answer): BUG: unable to handle kernel NULL pointer dereference"
    )
    assert records[0].kernel_log == ("[ 1.0] BUG: kernel NULL pointer dereference",)
    assert guest.recoveries == ["reset"] and records[1].status is Status.PASSED


def test_a_guest_lost_mid_case_without_a_word_is_an_error_naming_the_command() -> None:
    guest = Guest(console_problems=())
    records = every_record([Case("unload", crash=True), Case("errors", Verdict.passed("ok"))], guest, _progress())
    assert records[0].status is Status.ERROR
    assert (
        records[0].message
        == "guest trouble: no SSH answer (command: rmmod m) [guest rolled back to its ready snapshot]"
    )


def test_a_passed_case_whose_audit_finds_corruption_fails_keeping_its_figures() -> None:
    corrupted = Verdict.failed("slab validation after the test found corruption", ("BUG kmalloc-64",), True, found=1)
    guest = Guest(audits={"load": corrupted})
    cases = [Case("load", Verdict.passed("loaded", load_ms=5)), Case("unload", Verdict.passed("ok"), ("load",))]
    records = every_record(cases, guest, _progress())
    assert records[0].status is Status.FAILED and records[0].metrics == {"load_ms": 5, "found": 1}
    assert records[0].message.startswith("slab validation after the test found corruption [guest rolled back")
    assert records[1].status is Status.SKIPPED


def test_a_case_that_passed_but_left_the_guest_wedged_fails_with_the_console_and_its_dependents_skip() -> None:
    guest = Guest(console_problems=("[ 9.0] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [wedge:90]",))

    class Wedging(Case):
        def run(self, subject: Guest) -> Verdict:
            subject.alive = False
            return Verdict.passed("loaded", load_ms=3)

    cases = [Wedging("load"), Case("unload", Verdict.passed("ok"), ("load",))]
    records = every_record(cases, guest, _progress())
    assert records[0].status is Status.FAILED and records[0].metrics["load_ms"] == 3
    assert records[0].message.startswith(
        "the guest was left unfit after the test (it failed its health check): BUG: soft lockup"
    )
    assert guest.recoveries == ["reset"] and records[1].status is Status.SKIPPED


def test_every_record_says_when_its_test_began_in_utc() -> None:
    cases = [Case("build", Verdict.passed("ok")), Case("load", Verdict.failed("no"), ("build",)),
             Case("unload", Verdict.passed("ok"), ("load",))]  # fmt: skip
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    records = every_record(cases, Guest(), _progress())
    began = [datetime.datetime.fromisoformat(record.started) for record in records]
    assert all(moment.utcoffset() == datetime.timedelta(0) and moment >= before for moment in began)
    assert began == sorted(began) and "started" in records[2].to_dict()


@dataclass
class SlowCase(Case):
    seconds: float = 0.0

    def run(self, guest: Guest) -> Verdict:
        import time

        time.sleep(self.seconds)
        return super().run(guest)


def test_a_test_that_runs_long_is_named_with_its_time_so_far_until_its_verdict() -> None:
    import io

    out = io.StringIO()
    cases = [SlowCase("hang_detection", Verdict.passed("ok"), seconds=0.35), Case("concurrency", Verdict.passed("ok"))]
    every_record(cases, Guest(), Progress("6.1 vexfs", out, heartbeat_s=0.1))
    lines = out.getvalue().splitlines()
    assert len([line for line in lines if line.startswith("[6.1 vexfs] (1/2) hang_detection: running for ")]) >= 2
    assert lines[-2].startswith("[6.1 vexfs] (1/2) hang_detection: passed in 0.")
    assert lines[-1].startswith("[6.1 vexfs] (2/2) concurrency: passed in ")


def _domain(*cases: object) -> Domain[object]:
    return Domain("toy", "a toy", cases, object, lambda target, options: iter(()), lambda options: None)  # type: ignore[arg-type]


def test_what_one_case_hands_another_is_declared_and_checked_when_the_domain_registers() -> None:
    @dataclass
    class Handing(Case):
        hands: tuple[str, ...] = ("watched_s",)

    @dataclass
    class Using(Case):
        uses: tuple[str, ...] = ("watch",)

    assert _domain(Handing("watch"), Using("hang")).test_names == ("watch", "hang")
    with pytest.raises(ValueError, match="hang names watch, which is not an earlier case"):
        _domain(Using("hang"), Handing("watch"))
    with pytest.raises(ValueError, match="hang uses watch, which declares nothing it hands on"):
        _domain(Case("watch"), Using("hang"))
    with pytest.raises(ValueError, match="load names build, which is not an earlier case"):
        _domain(Case("load", needs=("build",)))


def test_case_records_gives_the_records_so_far_after_every_case() -> None:
    cases = [Case("build", Verdict.passed("ok")), Case("load", Verdict.failed("oops"), needs=("build",))]
    seen = [[record.name for record in records] for records in case_records(cases, Guest(), _progress())]
    assert seen == [["build"], ["build", "load"]]


UAF = "KASAN: slab-use-after-free Write in mydev_open"


def test_a_test_red_by_a_report_an_earlier_test_was_charged_with_says_so_and_stays_red() -> None:
    cases = [
        Case("load", Verdict.failed(f"insmod logged a problem: {UAF}", report_titles=(UAF,))),
        Case("leaks", Verdict.failed("leaked", report_titles=("memory leak in mydev_init",))),
        Case("hang_detection", Verdict.failed(f"insmod logged a problem: {UAF}", report_titles=(UAF,))),
    ]
    load, leaks, hangs = every_record(cases, Guest(), _progress())
    assert load.message == f"insmod logged a problem: {UAF}" and load.report_titles == (UAF,)
    assert leaks.message == "leaked"
    assert hangs.status is Status.FAILED and hangs.report_titles == (UAF,)
    assert hangs.message == f"same report as load ({UAF}): insmod logged a problem: {UAF}"


def test_a_guest_lost_with_a_report_on_its_console_is_charged_with_its_title() -> None:
    [record] = every_record([Case("unload", crash=True)], Guest(), _progress())
    assert record.report_titles == ("BUG: unable to handle kernel NULL pointer dereference",)
