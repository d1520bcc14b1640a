"""module_tests: a module's own TAP scripts and KUnit suites, their results as subtests, on a scripted guest."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.unit.scripted import Answer, ScriptedMachine
from toolkit.domains import options
from toolkit.domains.base import Finding, Verdict
from toolkit.domains.guest import Guest
from toolkit.domains.kernel_module import guest_tests
from toolkit.domains.kernel_module.guest_tests import ModuleTests, Outcome, kunit_outcome, script_outcome, verdict
from toolkit.domains.module import test_programs
from toolkit.domains.module.build import BuildOutcome, BuiltModule
from toolkit.domains.module.options import ModuleOptions
from toolkit.domains.module.subject import ModuleUnderTest
from toolkit.results.records import Status, Subtest

KTAP = Path(__file__).parent / "fixtures" / "ktap"
RELEASE = "6.1.0-50-amd64"
OOPS = (
    "[   50.1] BUG: kernel NULL pointer dereference, address: 0000000000000000",
    "[   50.2] Call Trace:",
    "[   50.3] ---[ end trace 0000000000000000 ]---",
)
IOCTL = """TAP version 13
1..5
ok 1 - opens /dev/taptest
ok 2 - small read
ok 3 - small write
ok 4 - unknown ioctl is ENOTTY
not ok 5 - big write
# write of 65536 bytes returned -1 (EFBIG)
"""
SYSFS = "TAP version 13\n1..4\nok 1 - depth reads 4\nok 2 - depth takes 8\nok 3 - depth refuses -1\nok 4 - refcnt 0\n"
SKIPS = "TAP version 13\n1..5\n" + "".join(f"ok {n} - read {n}\n" for n in range(1, 5)) + "ok 5 - poll # SKIP no poll\n"
NOT_SET = Answer("# CONFIG_KUNIT is not set\n")


def _results(name: str) -> str:
    return (KTAP / name).read_text().partition("\n----\n")[2]


def _ko(path: Path, *sections: str) -> Path:
    """A 64-bit ELF file holding empty sections of these names (all elf.sections reads)."""
    names = b"\0" + b"".join(name.encode() + b"\0" for name in (*sections, ".shstrtab"))
    headers = [struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)]
    at = 1
    for name in (*sections, ".shstrtab"):
        kind = 3 if name == ".shstrtab" else 1
        offset, size = (64, len(names)) if kind == 3 else (64, 0)
        headers.append(struct.pack("<IIQQQQIIQQ", at, kind, 0, 0, offset, size, 0, 0, 1, 0))
        at += len(name) + 1
    shoff = 64 + len(names)
    elf_header = bytearray(64)
    elf_header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", elf_header, 0x28, shoff)
    struct.pack_into("<HHH", elf_header, 0x3A, 64, len(headers), len(headers) - 1)
    path.write_bytes(bytes(elf_header) + names + b"".join(headers))
    return path


def _module_dir(tmp_path: Path, **scripts: str) -> Path:
    (tmp_path / "Kbuild").write_text("obj-m := mod.o\n")
    if scripts:
        (tmp_path / "tests").mkdir()
        for name, text in scripts.items():
            (tmp_path / "tests" / name).write_text(text)
    (tmp_path / "mod.ko").write_bytes(b"the built module, copied into the guest beside its sources\n")
    return tmp_path


def _case(
    rules: dict[str, Answer | list[Answer]], module_dir: Path, kunit_suites: bool = False
) -> tuple[Verdict, list[str]]:
    """module_tests' verdict for a module of module_dir on a guest answering by rules, and the guest's commands."""
    module = BuiltModule("mod", module_dir / "mod.ko", 4096, f"{RELEASE} SMP", "ABC", {}, {}, (), kunit_suites)
    chosen = options.parse(ModuleOptions, {"module_dir": module_dir})
    machine = ScriptedMachine(rules)
    build = BuildOutcome("chroot", 0, 1.0, "", (module,))
    subject = ModuleUnderTest(Guest(machine), chosen, build, module, RELEASE, module_dir)  # type: ignore[arg-type]
    try:
        return ModuleTests().run(subject), machine.commands
    except Finding as finding:
        return finding.verdict, machine.commands


def test_each_tap_test_of_a_script_is_a_subtest_and_a_failure_is_named_by_its_number() -> None:
    outcome = script_outcome("ioctl.sh", IOCTL, "", 1)
    assert [sub.name for sub in outcome.subtests][-2:] == ["ioctl.sh/unknown ioctl is ENOTTY", "ioctl.sh/big write"]
    assert outcome.subtests[-1] == Subtest(
        "ioctl.sh/big write", Status.FAILED, "write of 65536 bytes returned -1 (EFBIG)"
    )
    assert outcome.red == ("tests/ioctl.sh: 5 - big write",) and outcome.whole is None  # its exit 1 says the same


@pytest.mark.parametrize(
    ("status", "expected", "said"),
    [
        (0, Status.PASSED, "exited 0 (no TAP output)"),
        (4, Status.SKIPPED, "exited 4, kselftest's skip (no TAP output): needs /dev/taptest"),
        (2, Status.FAILED, "exited 2 without TAP output: needs /dev/taptest"),
    ],
)
def test_a_script_without_tap_is_judged_by_its_exit_status(status: int, expected: Status, said: str) -> None:
    outcome = script_outcome("smoke.sh", "ok: mounted\n", "needs /dev/taptest\n", status)
    assert outcome.tests == () and outcome.whole == Subtest("smoke.sh", expected, said)
    assert outcome.red == ((f"tests/smoke.sh {said}",) if expected is Status.FAILED else ())


def test_a_script_that_exits_non_zero_though_every_test_passed_is_red() -> None:
    outcome = script_outcome("sysfs.sh", SYSFS, "rmmod: ERROR: Module taptest is in use\n", 1)
    assert outcome.whole == Subtest(
        "sysfs.sh", Status.FAILED, "exited 1 though none of its tests failed: rmmod: ERROR: Module taptest is in use"
    )


def test_a_script_killed_at_its_timeout_keeps_what_it_printed_and_the_rest_did_not_run() -> None:
    outcome = script_outcome("slow.sh", "1..3\nok 1 - loads\n", "", None, 120)
    assert [sub.status for sub in outcome.subtests] == [Status.PASSED, Status.ERROR, Status.ERROR]
    assert outcome.subtests[1].message == "not run: the script (killed after 120 s) ended after 1 of 3"


def test_kunit_cases_are_subtests_named_by_suite_and_case() -> None:
    outcome = kunit_outcome({"taptest": _results("kunit-6.1-debugfs.txt")})
    assert [(sub.name, sub.status) for sub in outcome.subtests][:3] == [
        ("taptest/taptest_parameter_default", Status.PASSED),
        ("taptest/taptest_buffer_size", Status.FAILED),
        ("taptest/taptest_needs_hardware", Status.SKIPPED),
    ]
    assert "Expected size == 4096, but" in outcome.subtests[1].message
    assert outcome.red == ("KUnit taptest/taptest_buffer_size", "KUnit taptest/taptest_widths/width 64")


def test_the_message_counts_scripts_and_tests_and_names_the_first_failure() -> None:
    outcomes = [script_outcome("ioctl.sh", IOCTL, "", 1), script_outcome("reads.sh", SKIPS, "", 0),
                script_outcome("sysfs.sh", SYSFS, "", 0)]  # fmt: skip
    found = verdict(outcomes, None, f"no KUnit in {RELEASE}")
    assert found.status is Status.FAILED
    assert found.message == (
        "3 scripts, 14 TAP tests: 12 passed, 1 failed, 1 skipped; no KUnit in 6.1.0-50-amd64 "
        "(tests/ioctl.sh: 5 - big write)"
    )
    assert len(found.subtests) == 14 and found.metrics["key_metric"] == "12/14 passed"


def test_every_test_skipped_skips_the_case_and_a_script_without_tap_is_named() -> None:
    skipped = verdict([script_outcome("a.sh", "1..0 # SKIP no /dev/taptest\n", "", 0)], None, "")
    assert (skipped.status, skipped.message) == (Status.SKIPPED, "1 script; tests/a.sh skipped: no /dev/taptest")
    plain = verdict([script_outcome("smoke.sh", "ok: all\n", "", 0)], None, "")
    assert (plain.status, plain.message) == (Status.PASSED, "1 script; tests/smoke.sh exited 0 (no TAP output)")


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ("# CONFIG_KUNIT is not set\n", "no KUnit in 6.1.0-50-amd64"),
        ("CONFIG_KUNIT=y\n# CONFIG_KUNIT_DEBUGFS is not set\n", "without its debugfs results"),
        ("CONFIG_KUNIT=m\nCONFIG_KUNIT_DEBUGFS=y\n", "kunit.enable=0?"),
        ("", "no /boot/config-6.1.0-50-amd64 to say whether it has KUnit"),
    ],
)
def test_a_kernel_without_kunit_results_is_said_from_its_config(config: str, said: str) -> None:
    assert said in guest_tests.no_kunit(config, RELEASE)


def test_results_read_together_are_cut_back_per_suite() -> None:
    text = "==> /sys/kernel/debug/kunit/a/results <==\nok 1 a\n\n==> /sys/kernel/debug/kunit/b/results <==\nok 1 b\n"
    assert guest_tests.split_results(text) == {"a": "ok 1 a\n", "b": "ok 1 b\n"}


def test_a_module_without_tests_or_kunit_suites_is_skipped_without_the_guest(tmp_path: Path) -> None:
    _module_dir(tmp_path)
    found, commands = _case({"": Answer(unreachable=True)}, tmp_path)
    assert found.status is Status.SKIPPED and found.message.startswith(f"no tests/*.sh in {tmp_path}: ")
    assert commands == []


def test_the_scripts_run_with_the_module_loaded_and_their_results_become_subtests(tmp_path: Path) -> None:
    _module_dir(tmp_path, **{"reads.sh": "true\n", "sysfs.sh": "true\n"})
    rules = {"mountpoint -q": Answer(""), "ls -1 /sys/kernel/debug/kunit": Answer(exit_status=2),
             "CONFIG_KUNIT": NOT_SET, "sh tests/reads.sh": Answer(SKIPS), "sh tests/sysfs.sh": Answer(SYSFS)}  # fmt: skip
    found, _ = _case(rules, tmp_path)
    assert (found.status, found.message) == (
        Status.PASSED, "2 scripts, 9 TAP tests: 8 passed, 1 skipped; no KUnit in 6.1.0-50-amd64"
    )  # fmt: skip
    assert found.subtests[-1] == Subtest("sysfs.sh/refcnt 0", Status.PASSED)


def test_the_sources_are_copied_the_module_loaded_each_script_run_in_its_environment_then_unloaded(
    tmp_path: Path,
) -> None:
    _module_dir(tmp_path, **{"reads.sh": "true\n"})
    rules = {"ls -1 /sys/kernel/debug/kunit": Answer(exit_status=2), "CONFIG_KUNIT": NOT_SET,
             "sh tests/reads.sh": Answer(SYSFS)}  # fmt: skip
    found, commands = _case(rules, tmp_path)
    assert found.status is Status.PASSED
    steps = ["rm -rf /root/vexfs-vmtest/module-src", "PUT /tmp/vexfs-vmtest-install-", "tar xzf", "mountpoint -q",
             "insmod /root/vexfs-vmtest/mod.ko", "CONFIG_KUNIT",
             "cd /root/vexfs-vmtest/module-src && MODULE=mod KO=/root/vexfs-vmtest/mod.ko sh tests/reads.sh",
             "then rmmod mod; fi"]  # fmt: skip
    at = [next(i for i, command in enumerate(commands) if step in command) for step in steps]
    assert at == sorted(at), commands


def test_a_kernel_problem_during_a_script_fails_the_case_naming_it_with_the_results_so_far(tmp_path: Path) -> None:
    _module_dir(tmp_path, **{"a.sh": "true\n", "b.sh": "true\n", "c.sh": "true\n"})
    rules = {"ls -1 /sys/kernel/debug/kunit": Answer(exit_status=2), "CONFIG_KUNIT": NOT_SET,
             "sh tests/a.sh": Answer(SYSFS), "sh tests/b.sh": Answer(IOCTL, 1, log=OOPS)}  # fmt: skip
    found, _ = _case(rules, tmp_path)
    assert found.status is Status.FAILED and found.guest_dirty
    assert found.message.startswith("tests/b.sh logged a problem: ") and "NULL pointer dereference" in found.message
    assert len(found.subtests) == 9 and not any(sub.name.startswith("c.sh") for sub in found.subtests)


def test_a_script_that_never_returns_keeps_what_it_printed(tmp_path: Path) -> None:
    _module_dir(tmp_path, **{"slow.sh": "true\n"})
    rules = {"ls -1 /sys/kernel/debug/kunit": Answer(exit_status=2), "CONFIG_KUNIT": NOT_SET,
             "sh tests/slow.sh": Answer(timeout=True), "module-tests-out/slow.sh.out": Answer("1..2\nok 1 - loads\n")}  # fmt: skip
    found, _ = _case(rules, tmp_path)
    assert found.status is Status.FAILED and found.message.startswith("tests/slow.sh did not return within 120 s")
    assert [sub.status for sub in found.subtests] == [Status.PASSED, Status.ERROR]


def test_a_built_module_says_whether_it_carries_kunit_suites(tmp_path: Path) -> None:
    assert BuiltModule.read(_ko(tmp_path / "plain.ko", ".text", ".modinfo")).kunit_suites is False
    assert BuiltModule.read(_ko(tmp_path / "kunit.ko", ".text", ".kunit_test_suites")).kunit_suites is True


def test_the_kunit_suites_that_appear_at_insmod_are_read_from_debugfs(tmp_path: Path) -> None:
    _module_dir(tmp_path)
    results = "==> /sys/kernel/debug/kunit/taptest/results <==\n" + _results("kunit-6.1-debugfs.txt")
    rules = {"mountpoint -q": Answer("list-kernel-test\n"), "ls -1 /sys/kernel/debug/kunit": Answer(
             "list-kernel-test\ntaptest\n"), "tail -v -n +1 -- /sys/kernel/debug/kunit/taptest/results": Answer(results)}  # fmt: skip
    found, _ = _case(rules, tmp_path, kunit_suites=True)
    assert found.status is Status.FAILED
    assert found.message == (
        "KUnit: 1 suite, 6 tests: 3 passed, 2 failed, 1 skipped (KUnit taptest/taptest_buffer_size, and 1 more)"
    )
    assert [sub.name for sub in found.subtests][-1] == "taptest/taptest_widths/width 64"


def test_kunit_suites_the_module_carries_that_never_appear_are_an_error(tmp_path: Path) -> None:
    _module_dir(tmp_path)
    rules = {"mountpoint -q": Answer(""), "ls -1 /sys/kernel/debug/kunit": Answer("")}
    found, _ = _case(rules, tmp_path, kunit_suites=True)
    assert found.status is Status.FAILED and "none appeared in /sys/kernel/debug/kunit" in found.message


def test_outcomes_of_kunit_and_scripts_add_up_in_one_verdict() -> None:
    kunit = Outcome("KUnit", (Subtest("s/a", Status.PASSED),))
    found = verdict([script_outcome("a.sh", SYSFS, "", 0)], kunit, "")
    assert found.message == "1 script, 4 TAP tests: 4 passed; KUnit: 1 suite, 1 test: 1 passed"


def test_a_kernel_problem_while_the_kunit_suites_run_at_insmod_keeps_their_results(tmp_path: Path) -> None:
    _module_dir(tmp_path)
    results = "==> /sys/kernel/debug/kunit/taptest/results <==\n" + _results("kunit-6.1-debugfs.txt")
    rules = {"mountpoint -q": Answer(""), "insmod": Answer(log=OOPS), "ls -1 /sys/kernel/debug/kunit": Answer(
             "taptest\n"), "tail -v": Answer(results)}  # fmt: skip
    found, _ = _case(rules, tmp_path, kunit_suites=True)
    assert found.status is Status.FAILED and found.message.startswith("insmod logged a problem: ") and found.guest_dirty
    assert len(found.subtests) == 6


def test_a_module_its_tests_left_in_use_fails_with_rmmods_words(tmp_path: Path) -> None:
    _module_dir(tmp_path, **{"a.sh": "true\n"})
    rules = {"ls -1 /sys/kernel/debug/kunit": Answer(exit_status=2), "CONFIG_KUNIT": NOT_SET,
             "sh tests/a.sh": Answer(SYSFS), "then rmmod": Answer(exit_status=1, stderr="rmmod: ERROR: Module mod is in use")}  # fmt: skip
    found, _ = _case(rules, tmp_path)
    assert (found.status, found.guest_dirty) == (Status.FAILED, True)
    assert (
        found.message == "rmmod after the tests failed: rmmod: ERROR: Module mod is in use" and len(found.subtests) == 4
    )


def test_a_tests_makefile_is_made_in_the_guests_copy_before_the_module_loads(tmp_path: Path) -> None:
    _module_dir(tmp_path, **{"reads.sh": "true\n", "Makefile": "all:\n\tcc -o helper helper.c\n"})
    rules = {"ls -1 /sys/kernel/debug/kunit": Answer(exit_status=2), "CONFIG_KUNIT": NOT_SET,
             "make -j": Answer("cc -o helper helper.c\n"), "sh tests/reads.sh": Answer(SYSFS)}  # fmt: skip
    found, commands = _case(rules, tmp_path)
    assert found.status is Status.PASSED, found.message
    steps = [
        "tar xzf",
        "cd /root/vexfs-vmtest/module-src && env LC_ALL=C LANG=C make -j",
        "insmod",
        "sh tests/reads.sh",
    ]
    at = [next(i for i, command in enumerate(commands) if step in command) for step in steps]
    assert at == sorted(at), commands
    assert "-C tests 2>&1" in commands[at[1]]
    assert (tmp_path / "tests-make.log").read_text() == "cc -o helper helper.c\n"


def test_a_tests_makefile_that_fails_fails_the_case_with_its_first_error_and_nothing_runs(tmp_path: Path) -> None:
    _module_dir(tmp_path, **{"reads.sh": "true\n", "Makefile": "all:\n\tcc -o helper helper.c\n"})
    error = "helper.c:3:1: error: expected ';' before '}' token\nmake: *** [Makefile:2: helper] Error 1\n"
    rules = {"make -j": Answer(error, 2), "sh tests/reads.sh": Answer(SYSFS)}
    found, commands = _case(rules, tmp_path)
    assert (found.status, found.message) == (
        Status.FAILED, "tests/Makefile: make failed (exit 2): helper.c:3:1: error: expected ';' before '}' token"
    )  # fmt: skip
    assert not any("insmod" in command or "sh tests/reads.sh" in command for command in commands)


@pytest.mark.parametrize(("returncode", "output", "said"), [
    (2, "", "tests/Makefile: make failed (exit 2): it printed nothing"),
    (2, "make: *** No rule to make target 'x'.  Stop.\n", "tests/Makefile: make failed (exit 2): make: *** No rule to make target 'x'.  Stop."),
    (test_programs.process_group.TIMED_OUT, "cc -o slow slow.c\n", "tests/Makefile: make did not end within 300 s: cc -o slow slow.c"),
])  # fmt: skip
def test_what_a_failed_make_of_the_tests_says(returncode: int, output: str, said: str) -> None:
    assert test_programs.Made(returncode, output, 1.0).failure("tests") == said
