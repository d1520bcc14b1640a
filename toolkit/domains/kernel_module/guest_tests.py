"""module_tests: the module's own tests, run in the guest with the module loaded; each of their results a subtest.

The scripts are the module directory's `tests/*.sh`. Each runs as root with `sh`, one after another, from a
copy of the module's sources in the guest (so `$(dirname "$0")/..` is its source tree), with MODULE (the
module's name) and KO (the loaded .ko) in its environment, under a timeout. What it prints is read as TAP or
KTAP (toolkit/ktap.py): each test a subtest, `ioctl.sh/big write`; a script without TAP is judged by its exit
status (0 passed, 4 skipped, as kselftest says, anything else failed). KUnit suites the module carries run as
it loads: the ones that appeared in /sys/kernel/debug/kunit are read (KTAP) before it unloads, each case a
subtest, `suite/case`. A `tests/Makefile` is made first (toolkit/domains/module/test_programs.py): the programs
the scripts use, built on the host where the module was. Red when a test failed or never ran, a script failed
without TAP, or the kernel reported a problem (the step names the script).
"""

from __future__ import annotations

import re
import shlex
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from toolkit import ktap
from toolkit.domains.base import Finding, Verdict
from toolkit.domains.guest import GUEST_DIR, Guest, problem_verdict
from toolkit.domains.module import build_tree, test_programs
from toolkit.domains.module.build import KUNIT_SECTION
from toolkit.domains.module.options import ModuleOptions
from toolkit.domains.module.subject import DEBUGFS, ModuleUnderTest, with_errno
from toolkit.files import as_named
from toolkit.machines.protocol import MachineError
from toolkit.results.records import Status, Subtest

TESTS = "tests"  # the module directory's own tests: tests/*.sh
SOURCE = "module-src"  # the copy of the module's sources in the guest, under GUEST_DIR
OUTPUT = f"{GUEST_DIR}/module-tests-out"  # what each script printed, kept there in case it never returns
KUNIT = f"{DEBUGFS}/kunit"
KSFT_SKIP = 4  # kselftest's exit status for a test that skipped itself
SCRIPT_TIMEOUT_S = 120.0  # each script's; scaled for debug kernels like every guest timeout
DETAIL_LINES = 20  # of a subtest's diagnostics kept in its message
RED = (Status.FAILED, Status.ERROR)


def tests_dir(options: ModuleOptions) -> Path:
    """Where the module's own tests are."""
    return options.guest_tests or options.module_dir / TESTS


def _no_tests(options: ModuleOptions, where: Path) -> str:
    """Where no script was found, as the user names it: `tests/*.sh in kernel/mymod`."""
    named = as_named(options.module_dir)
    return f"{TESTS}/*.sh in {named}" if where == options.module_dir / TESTS else f"*.sh in {as_named(where)}"


@dataclass(frozen=True)
class Outcome:
    """What one source of results gave: a script, or the module's KUnit suites."""

    where: str  # tests/ioctl.sh, KUnit
    tests: tuple[Subtest, ...] = ()  # each TAP or KTAP test it reported
    whole: Subtest | None = None  # a script as a whole, where it says more than its tests (no TAP, exit, hang)
    red: tuple[str, ...] = ()  # each red result as the message names it: `tests/ioctl.sh: 5 - big write`

    @property
    def subtests(self) -> tuple[Subtest, ...]:
        return (*self.tests, *([self.whole] if self.whole else []))


def _detail(test: ktap.TapTest) -> str:
    lines = test.detail().splitlines()
    cut = f"\n... ({len(lines) - DETAIL_LINES} more lines)" if len(lines) > DETAIL_LINES else ""
    return "\n".join(lines[:DETAIL_LINES]) + cut


def _label(where: str, names: Sequence[str], test: ktap.TapTest) -> str:
    """`tests/ioctl.sh: 5 - big write`; a test without a name by its number alone."""
    path = "/".join(names)
    return f"{where}: {test.number} - {path}" if test.name else f"{where}: {path}"


def _tail(*texts: str) -> str:
    lines = [line.strip() for text in texts for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "it printed nothing"


def script_outcome(
    script: str, stdout: str, stderr: str, exit_status: int | None, timeout_s: float = 0, folder: str = TESTS
) -> Outcome:
    """A script's results from what it printed and how it ended (exit_status None: killed at timeout_s); folder is
    where the script is, as messages name it."""
    where = f"{folder}/{script}"
    source = "script" if exit_status is not None else f"script (killed after {timeout_s:g} s)"
    report = ktap.parse(stdout, source=source)
    tests, red = [], []
    for names, test in report.leaves():
        tests.append(Subtest("/".join((script, *names)), test.status, _detail(test)))
        if test.status in RED:
            red.append(_label(where, names, test))
    whole = _whole_script(report, exit_status, timeout_s, stdout, stderr, any_red=bool(red))
    if whole is not None and whole[0] in RED:
        red.append(f"{where} {whole[1]}")
    return Outcome(where, tuple(tests), Subtest(script, *whole) if whole else None, tuple(red))


def _whole_script(
    report: ktap.TapReport, exit_status: int | None, timeout_s: float, stdout: str, stderr: str, any_red: bool
) -> tuple[Status, str] | None:
    """What a script as a whole says beyond its tests, as a status and a message: without TAP, its exit status;
    else skipped by its plan, bailed out, broke its plan, hung, or exited non-zero though no test of it failed."""
    if not report.found:
        if exit_status is None:
            return Status.FAILED, f"did not return within {timeout_s:g} s, without TAP output"
        if exit_status == 0:
            return Status.PASSED, "exited 0 (no TAP output)"
        if exit_status == KSFT_SKIP:
            return Status.SKIPPED, f"exited {KSFT_SKIP}, kselftest's skip (no TAP output): {_tail(stderr)}"
        return Status.FAILED, f"exited {exit_status} without TAP output: {_tail(stdout, stderr)}"
    if report.skip_all is not None and not report.tests:
        return Status.SKIPPED, f"skipped: {report.skip_all or 'its plan is 1..0'}"
    if report.bail_out is not None and report.plan is None:
        return Status.ERROR, f"bailed out: {report.bail_out}"
    if report.problems:
        return Status.FAILED, "; ".join(report.problems)
    if exit_status is None and not any_red:
        return Status.FAILED, f"did not return within {timeout_s:g} s after its last test"
    if exit_status and not any_red and exit_status != KSFT_SKIP:
        return Status.FAILED, f"exited {exit_status} though none of its tests failed: {_tail(stderr)}"
    return None


def kunit_outcome(results: dict[str, str]) -> Outcome:
    """The module's KUnit suites from their debugfs results (suite name -> KTAP), each case `suite/case`."""
    tests, red = [], []
    for suite, text in sorted(results.items()):
        leaves = list(ktap.parse(text, source="suite").leaves())
        if not leaves:
            said = f"its results hold no test: {_tail(text)}"
            tests.append(Subtest(suite, Status.ERROR, said))
            red.append(f"KUnit {suite}: {said}")
        for names, test in leaves:
            path = "/".join(names if names[0] == suite else (suite, *names))
            tests.append(Subtest(path, test.status, _detail(test)))
            if test.status in RED:
                red.append(f"KUnit {path}")
    return Outcome("KUnit", tuple(tests), None, tuple(red))


HEADER = re.compile(r"==> (.+)/results <==$")


def split_results(text: str) -> dict[str, str]:
    """`tail -v -n +1 -- .../SUITE/results ...` cut back into each suite's results."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        header = HEADER.match(line)
        if header:
            current = found.setdefault(header.group(1).rsplit("/", 1)[-1], [])
        elif current is not None:
            current.append(line)
    return {suite: "\n".join(lines).strip("\n") + "\n" for suite, lines in found.items()}


def no_kunit(config: str, release: str) -> str:
    """What the kernel's configuration lines about KUnit say, for a guest without /sys/kernel/debug/kunit."""
    lines = {line.strip() for line in config.splitlines()}
    if "# CONFIG_KUNIT is not set" in lines:
        return f"no KUnit in {release}"
    if not lines:
        return f"no {KUNIT} in {release}, and no /boot/config-{release} to say whether it has KUnit"
    if "# CONFIG_KUNIT_DEBUGFS is not set" in lines:
        return f"KUnit in {release}, but without its debugfs results (CONFIG_KUNIT_DEBUGFS is not set)"
    return f"KUnit in {release}, but no {KUNIT} (kunit.enable=0?)"


def _counts(subtests: Iterable[Subtest]) -> str:
    statuses = [subtest.status for subtest in subtests]
    order = (Status.PASSED, Status.FAILED, Status.ERROR, Status.SKIPPED)
    return ", ".join(f"{statuses.count(status)} {status.value}" for status in order if statuses.count(status))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def verdict(scripts: Sequence[Outcome], kunit: Outcome | None, kunit_note: str) -> Verdict:
    """The case's verdict from every script's and the suites' outcomes: red when any result is; skipped when
    every result skipped; the message counts the tests and names the first red result."""
    outcomes = [*scripts, *([kunit] if kunit else [])]
    subtests = tuple(subtest for outcome in outcomes for subtest in outcome.subtests)
    red = [label for outcome in outcomes for label in outcome.red]
    said = []
    if scripts:
        tap = [test for outcome in scripts for test in outcome.tests]
        counted = f", {_plural(len(tap), 'TAP test')}: {_counts(tap)}" if tap else ""
        said.append(f"{_plural(len(scripts), 'script')}{counted}")
        said += [f"{o.where} {o.whole.message}" for o in scripts if o.whole and o.whole.status not in RED]
    if kunit is not None:
        suites = len({test.name.split("/", 1)[0] for test in kunit.tests})
        said.append(f"KUnit: {_plural(suites, 'suite')}, {_plural(len(kunit.tests), 'test')}: {_counts(kunit.tests)}")
    if kunit_note:
        said.append(kunit_note)
    message = "; ".join(said)
    if red:
        more = f", and {len(red) - 1} more" if len(red) > 1 else ""
        message = f"{message} ({red[0]}{more})"
    statuses = [subtest.status for subtest in subtests]
    metrics: dict[str, Any] = {
        "scripts": len(scripts),
        "tap_tests": sum(len(outcome.tests) for outcome in scripts),
        "kunit_tests": len(kunit.tests) if kunit else 0,
        "subtests": {status.value: statuses.count(status) for status in Status},
        "key_metric": f"{statuses.count(Status.PASSED)}/{len(statuses)} passed",
    }
    if red:
        status = Status.FAILED
    elif statuses and all(status is Status.SKIPPED for status in statuses):
        status = Status.SKIPPED
    else:
        status = Status.PASSED
    return Verdict(status, message, metrics, subtests=subtests)


def run_script(subject: ModuleUnderTest, directory: str, script: str) -> str:
    """The guest command running one script from the copy of the module's sources, its output kept in OUTPUT."""
    out, err = (shlex.quote(f"{OUTPUT}/{script}.{kind}") for kind in ("out", "err"))
    env = " ".join(f"{key}={shlex.quote(value)}" for key, value in (("MODULE", subject.name), ("KO", subject.guest_ko)))
    return (
        f"cd {shlex.quote(f'{GUEST_DIR}/{SOURCE}')} && {env} sh {shlex.quote(f'{directory}/{script}')} >{out} "
        f"2>{err} </dev/null; status=$?; cat {out}; cat {err} >&2; exit $status"
    )


class ModuleTests:
    name = "module_tests"
    needs = ("load",)

    def run(self, subject: ModuleUnderTest) -> Verdict:
        options, guest = subject.options, subject.guest
        where = tests_dir(options)
        scripts = sorted(path.name for path in where.glob("*.sh") if path.is_file())
        carries_kunit = subject.module is not None and subject.module.kunit_suites
        if not scripts and not carries_kunit:
            return Verdict.skipped(
                f"no {_no_tests(options, where)}: the module has no tests of its own to run (scripts printing TAP "
                "there run in the guest with the module loaded), nor KUnit suites"
            )
        subject.unload_quietly()
        directory = self.install(subject, where)
        made = self.make_programs(subject, where, directory)
        if made is not None and not made.ok:
            return Verdict.failed(made.failure(directory))
        before = guest.root(
            f"{{ mountpoint -q {DEBUGFS} || mount -t debugfs none {DEBUGFS}; }} 2>/dev/null; ls -1 {KUNIT} 2>/dev/null"
            "; true"
        ).stdout.split()
        load = guest.step("insmod", subject.insmod_command(), options.load_timeout_s, judge=False)
        if not load.ok:
            output = load.result.stderr or load.result.stdout
            return Verdict.failed(f"insmod failed: {with_errno(output)}", load.log)
        kunit, note = self.read_kunit(guest, set(before), subject.kernel_release, carries_kunit)
        if load.problems:  # while it loaded, and while its KUnit suites ran
            return self.cut_short(problem_verdict("insmod logged a problem", load.problems), [], kunit)
        done: list[Outcome] = []
        for script in scripts:
            try:
                step = guest.step(f"{directory}/{script}", run_script(subject, directory, script), SCRIPT_TIMEOUT_S,
                                  judge=False)  # fmt: skip
            except Finding as finding:  # it never returned: what it printed until then is in OUTPUT
                done.append(self.killed(guest, script, directory))
                return self.cut_short(finding.verdict, done, kunit)
            result = step.result
            done.append(script_outcome(script, result.stdout, result.stderr, result.exit_status, folder=directory))
            if step.problems:
                found = problem_verdict(f"{directory}/{script} logged a problem", step.problems)
                return self.cut_short(found, done, kunit)
        unload = guest.step("rmmod", f"if grep -q '^{subject.name} ' /proc/modules; then rmmod {subject.name}; fi",
                            options.load_timeout_s, judge=False)  # fmt: skip
        if unload.problems:
            return self.cut_short(problem_verdict("rmmod after the tests logged a problem", unload.problems), done,
                                  kunit)  # fmt: skip
        if not unload.ok:
            said = with_errno(unload.result.stderr or unload.result.stdout)
            failed = Verdict.failed(f"rmmod after the tests failed: {said}", guest_dirty=True)
            return self.cut_short(failed, done, kunit)
        return verdict(done, kunit, note)

    def make_programs(self, subject: ModuleUnderTest, where: Path, directory: str) -> test_programs.Made | None:
        """The tests' own programs made by their Makefile (None without one): on the host when the module was
        built in the box's chroot and the tests are among its sources (what make built then copied into the
        guest's copy), else in the guest's copy; what make printed kept in tests-make.log."""
        if not (where / test_programs.MAKEFILE).is_file():
            return None
        sysroot = subject.guest.machine.sysroot
        if subject.build.where == "chroot" and sysroot is not None and where.is_relative_to(subject.options.module_dir):
            made = self.make_on_host(subject, sysroot, directory)
        else:
            command = f"cd {shlex.quote(f'{GUEST_DIR}/{SOURCE}')} && {test_programs.make_in_guest(directory)}"
            result = subject.guest.step(f"make -C {directory}", command, test_programs.TIMEOUT_S, judge=False).result
            made = test_programs.Made(result.exit_status, result.stdout, result.duration_s)
        (subject.work_dir / "tests-make.log").write_text(made.output)
        return made

    def make_on_host(self, subject: ModuleUnderTest, sysroot: Path, directory: str) -> test_programs.Made:
        """make in the box's chroot, then what it built copied into the guest's copy of the tests."""
        with tempfile.TemporaryDirectory(prefix="vexfs-vmtest-tests-") as scratch:
            made_in = Path(scratch)
            made = test_programs.make_on_host(sysroot, subject.kernel_release, subject.options.module_dir, directory,
                                              made_in)  # fmt: skip
            if made.ok:
                subject.guest.install({f"{SOURCE}/{directory}/{relative}": made_in / directory / relative
                                       for relative in build_tree.sources(made_in / directory)})  # fmt: skip
        return made

    def install(self, subject: ModuleUnderTest, where: Path) -> str:
        """The module's sources (its tests among them) and its .ko copied into the guest, an earlier copy gone
        first; the tests' folder in the copy."""
        source = subject.options.module_dir
        files = {f"{SOURCE}/{relative}": source / relative for relative in build_tree.sources(source)}
        try:
            directory = str(where.relative_to(source))
        except ValueError:  # tests kept apart from the sources: beside them in the copy
            directory = TESTS
            files.update({f"{SOURCE}/{TESTS}/{path.name}": path for path in where.iterdir()})
        if subject.module is not None:
            try:
                built = subject.module.path.relative_to(subject.work_dir / "src")
            except ValueError:
                built = Path(subject.module.path.name)
            files[f"{SOURCE}/{built}"] = subject.module.path
        subject.guest.root(f"rm -rf {GUEST_DIR}/{SOURCE} {OUTPUT} && mkdir -p {OUTPUT}")
        subject.guest.install(files)
        return directory

    def read_kunit(
        self, guest: Guest, before: set[str], release: str, carries_kunit: bool
    ) -> tuple[Outcome | None, str]:
        """The KUnit suites that appeared when the module loaded, read from debugfs; else what the kernel's
        configuration says of KUnit, when there is no debugfs to read."""
        listing = guest.root(f"ls -1 {KUNIT}")
        if not listing.ok:
            config = guest.root("grep -E '^(# )?CONFIG_KUNIT(_DEBUGFS)?[= ]' /boot/config-$(uname -r)").stdout
            return None, no_kunit(config, release)
        suites = sorted(set(listing.stdout.split()) - before)
        if not suites:
            if not carries_kunit:
                return None, ""
            said = f"its .ko has KUnit suites ({KUNIT_SECTION}) but none appeared in {KUNIT} when it loaded"
            return Outcome("KUnit", (Subtest("KUnit", Status.ERROR, said),), None, (f"KUnit: {said}",)), ""
        paths = " ".join(shlex.quote(f"{KUNIT}/{suite}/results") for suite in suites)
        return kunit_outcome(split_results(guest.root(f"tail -v -n +1 -- {paths}").stdout)), ""

    def killed(self, guest: Guest, script: str, directory: str) -> Outcome:
        """A script that did not return: its results from what it printed before it was killed."""
        out = shlex.quote(f"{OUTPUT}/{script}.out")
        try:
            printed = guest.root(f"cat {out}", timeout=15).stdout
        except MachineError:
            printed = ""
        return script_outcome(script, printed, "", None, SCRIPT_TIMEOUT_S * guest.slowdown, directory)

    def cut_short(self, found: Verdict, done: Sequence[Outcome], kunit: Outcome | None) -> Verdict:
        """A verdict reached before every script ran (a kernel problem, a hang): it stands, with the results so far."""
        subtests = tuple(subtest for outcome in [*done, *([kunit] if kunit else [])] for subtest in outcome.subtests)
        return replace(found, subtests=subtests)
