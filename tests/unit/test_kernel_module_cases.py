"""The kernel_module tests' verdict branches that the recorded fixture runs do not reach, on a scripted guest."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tests.unit.scripted import Answer, ScriptedMachine
from toolkit import config
from toolkit.domains import options
from toolkit.domains.base import Finding, Verdict
from toolkit.domains.guest import Guest
from toolkit.domains.kernel_module.concurrency import Concurrency, use_of
from toolkit.domains.kernel_module.errors import ErrorHandling
from toolkit.domains.kernel_module.hangs import HangDetection
from toolkit.domains.kernel_module.lifecycle import LifecycleStress, Load, Unload
from toolkit.domains.module import elf, workload
from toolkit.domains.module.build import BuildOutcome, BuiltModule
from toolkit.domains.module.build_case import Build
from toolkit.domains.module.constraints import constraints
from toolkit.domains.module.leaks import MemoryLeak
from toolkit.domains.module.options import ModuleOptions
from toolkit.domains.module.parameters import MAX_PARAMETERS, kernel_arguments
from toolkit.domains.module.subject import ModuleUnderTest
from toolkit.results.records import Status

RELEASE = "6.1.0-50-amd64"
OOPS = (
    "[   50.1] BUG: kernel NULL pointer dereference, address: 0000000000000000",
    "[   50.2] Call Trace:",
    "[   50.3] ---[ end trace 0000000000000000 ]---",
)
SOFT_LOCKUP = ("[   60.0] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [mod_thread:99]",)


def probe(loaded: bool = True, state: str = "live", taint: int = 12288, filesystems: str = "ext4 mod") -> Answer:
    return Answer(
        f"taint={taint}\nloaded={int(loaded)}\nstate={state}\nrefcnt=1\nholders=\nfilesystems={filesystems}\n"
    )


ABSENT = probe(loaded=False, state="absent", taint=0, filesystems="ext4")


def run(
    case: object,
    rules: dict[str, Answer | list[Answer]],
    tmp_path: Path,
    guest_files: dict[str, str] | None = None,
    **changes: object,
) -> Verdict:
    """The case's verdict on a guest answering by rules (a Finding raised mid-case is its verdict, as in the runner)."""
    return run_in_order([case], rules, tmp_path, guest_files, **changes)[-1]


def run_in_order(
    cases: list[object],
    rules: dict[str, Answer | list[Answer]],
    tmp_path: Path,
    guest_files: dict[str, str] | None = None,
    values: dict[str, object] | None = None,
    **changes: object,
) -> list[Verdict]:
    """The verdicts of cases run one after another on one subject (its options given by values), as the runner
    runs them."""
    module = BuiltModule("mod", tmp_path / "mod.ko", 4096, f"{RELEASE} SMP mod_unload", "ABC", {"size": "uint"},
                         {".text": 64, ".init.text": 32}, (elf.Symbol("mod_init", ".init.text", 0, 32),))  # fmt: skip
    module = dataclasses.replace(module, **changes)
    build = BuildOutcome("chroot", 0, 1.5, "  CC [M] mod.o\n", (module,))
    chosen = options.parse(ModuleOptions, {"module_dir": tmp_path, "cycles": 3, **(values or {})})
    machine = ScriptedMachine(rules, files=guest_files or {})
    subject = ModuleUnderTest(Guest(machine), chosen, build, module, RELEASE, tmp_path)  # type: ignore[arg-type]
    verdicts = []
    for case in cases:
        try:
            verdicts.append(case.run(subject))  # type: ignore[attr-defined]
        except Finding as finding:
            verdicts.append(finding.verdict)
    return verdicts


def test_a_module_built_for_another_kernel_fails_build(tmp_path: Path) -> None:
    verdict = run(Build(), {}, tmp_path, vermagic="6.12.0-1-amd64 SMP mod_unload")
    assert verdict.status is Status.FAILED and "does not match the guest kernel" in verdict.message


def test_a_load_that_logs_an_oops_fails_with_it(tmp_path: Path) -> None:
    verdict = run(Load(), {"probe.sh": ABSENT, "insmod": Answer(log=OOPS)}, tmp_path)
    assert verdict.status is Status.FAILED and verdict.guest_dirty
    assert verdict.message.startswith("loading logged a problem: BUG: unable to handle kernel NULL pointer dereference")
    assert verdict.kernel_log == OOPS


def test_a_module_left_coming_after_insmod_fails_load(tmp_path: Path) -> None:
    verdict = run(Load(), {"probe.sh": [ABSENT, probe(state="coming")]}, tmp_path)
    assert verdict.status is Status.FAILED and "the module is coming" in verdict.message


def test_a_load_that_taints_the_kernel_beyond_out_of_tree_fails(tmp_path: Path) -> None:
    verdict = run(Load(), {"probe.sh": [ABSENT, probe(taint=12288 | 512)]}, tmp_path)
    assert verdict.status is Status.FAILED and verdict.message == "loading tainted the kernel: W kernel warning"


def test_a_clean_load_names_the_filesystems_the_module_registers(tmp_path: Path) -> None:
    verdict = run(Load(), {"probe.sh": [ABSENT, probe()]}, tmp_path)
    assert verdict.status is Status.PASSED and verdict.metrics["filesystems"] == ["mod"]


def test_a_load_records_where_the_probe_found_the_modules_code_sections(tmp_path: Path) -> None:
    sections = Answer(probe().stdout + "sections=.init.text:0xffffffffc0214000 .text:0xffffffffc0210000 \n")
    verdict = run(Load(), {"probe.sh": [ABSENT, sections]}, tmp_path)
    assert verdict.metrics["sections"] == {".init.text": "0xffffffffc0214000", ".text": "0xffffffffc0210000"}


def test_an_rmmod_refused_names_refcount_and_holders(tmp_path: Path) -> None:
    refused = Answer(stderr="rmmod: ERROR: Module mod is in use\n", exit_status=1)
    verdict = run(Unload(), {"rmmod": refused, "probe.sh": probe()}, tmp_path)
    assert verdict.status is Status.FAILED and verdict.guest_dirty
    assert verdict.message == "rmmod failed: rmmod: ERROR: Module mod is in use (refcnt 1, holders none)"


def test_an_rmmod_that_succeeds_but_leaves_the_module_fails(tmp_path: Path) -> None:
    verdict = run(Unload(), {"probe.sh": probe(state="going")}, tmp_path)
    assert verdict.status is Status.FAILED and "still there (going)" in verdict.message


def test_an_rmmod_that_hangs_without_a_kernel_report_says_so(tmp_path: Path) -> None:
    verdict = run(Unload(), {"rmmod": Answer(timeout=True)}, tmp_path)
    assert verdict.status is Status.FAILED and verdict.guest_dirty
    assert verdict.message == "rmmod did not return within 25 s and the kernel reported nothing"


def test_a_problem_during_the_cycles_names_the_cycle(tmp_path: Path) -> None:
    verdict = run(LifecycleStress(), {"cycles.sh": Answer("cycles=2\nslab_kib=4\n", log=SOFT_LOCKUP)}, tmp_path)
    assert verdict.message.startswith("cycle 2 of 3 logged a problem: BUG: soft lockup")
    assert verdict.metrics["cycles"] == 2


def test_a_failed_cycle_step_fails_lifecycle_stress(tmp_path: Path) -> None:
    failed = Answer("failed=insmod\ncycles=2\nslab_kib=0\n", stderr="insmod: ERROR: File exists")
    verdict = run(LifecycleStress(), {"cycles.sh": failed}, tmp_path)
    assert (
        verdict.status is Status.FAILED
        and verdict.message == "insmod failed in cycle 2 of 3: insmod: ERROR: File exists"
    )


def test_slab_growing_over_the_cycles_fails_lifecycle_stress(tmp_path: Path) -> None:
    verdict = run(LifecycleStress(), {"cycles.sh": Answer("cycles=3\nslab_kib=5000\n")}, tmp_path)
    assert verdict.status is Status.FAILED and verdict.message == "unreclaimable slab grew by 5000 KiB over 3 cycles"


def _leak_rules(trace_stdout: str, kmemleak: Answer) -> dict[str, Answer | list[Answer]]:
    return {"leak-trace.sh": Answer(trace_stdout), "kmemleak": kmemleak}


def test_an_overrun_trace_buffer_makes_memory_leak_an_error(tmp_path: Path) -> None:
    verdict = _leak(_leak_rules("overrun 12\n", Answer(exit_status=3)), {"/tmp/vexfs-vmtest-trace": ""}, tmp_path)
    assert verdict.status is Status.ERROR and verdict.message.startswith("trace buffer overran (12 events lost)")


KMEMLEAK_REPORT = """unreferenced object 0xffff888003a4b000 (size 64):
  comm "insmod", pid 99, jiffies 4294893446 (age 10.460s)
  backtrace:
    [<00000000c4f1a2b3>] __kmem_cache_alloc_node+0x1a2/0x2c0
    [<000000003b2c4e0f>] kmalloc_trace+0x26/0x60
    [<000000008c5ba3a6>] mod_init+0x21/0x40 [mod]
unreferenced object 0xffff888003a4c000 (size 32):
  comm "swapper/0", pid 1, jiffies 4294890000 (age 20.000s)
  backtrace:
    [<00000000c4f1a2b3>] __kmem_cache_alloc_node+0x1a2/0x2c0
    [<000000001234abcd>] acpi_os_allocate_zeroed+0x20/0x30
"""


def test_kmemleak_objects_the_module_allocated_fail_memory_leak(tmp_path: Path) -> None:
    verdict = _leak(_leak_rules("overrun 0\n", Answer(KMEMLEAK_REPORT)), {"/tmp/vexfs-vmtest-trace": ""}, tmp_path)
    assert verdict.status is Status.FAILED
    assert verdict.message == "kmemleak: 1 unreferenced objects allocated at mod_init+0x21"
    assert verdict.report_titles == ("memory leak in mod_init",)
    assert verdict.metrics["method"] == "kmem tracepoints + kmemleak"
    assert "unreferenced object 0xffff888003a4b000 (size 64):" in verdict.kernel_log


def test_kmemleak_objects_of_the_kernel_itself_are_not_the_modules(tmp_path: Path) -> None:
    kernel_only = KMEMLEAK_REPORT.split("unreferenced object 0xffff888003a4c000")[1]
    report = "unreferenced object 0xffff888003a4c000" + kernel_only
    verdict = _leak(_leak_rules("overrun 0\n", Answer(report)), {"/tmp/vexfs-vmtest-trace": ""}, tmp_path)
    assert verdict.status is Status.PASSED


def test_a_module_that_will_not_load_under_tracing_fails_memory_leak(tmp_path: Path) -> None:
    verdict = _leak({"leak-trace.sh": Answer(exit_status=3, stderr="insmod: ERROR")}, {}, tmp_path)
    assert (
        verdict.status is Status.FAILED
        and verdict.message == "load/unload under tracing failed (exit 3): insmod: ERROR"
    )


def _leak(rules: dict[str, Answer | list[Answer]], files: dict[str, str], tmp_path: Path) -> Verdict:
    return run(MemoryLeak(), rules, tmp_path, guest_files=files)


ARMED = Answer("10\n5\n")


def test_watchdogs_that_are_not_armed_make_hang_detection_an_error(tmp_path: Path) -> None:
    verdict = run(HangDetection(), {"sysctl -n": Answer("120\n10\n")}, tmp_path)
    assert verdict.status is Status.ERROR and "watchdogs not armed as expected" in verdict.message


def test_a_module_unusable_while_watched_fails_hang_detection(tmp_path: Path) -> None:
    rules: dict[str, Answer | list[Answer]] = {"sysctl -n": ARMED, "grep -q": Answer(exit_status=1),
                                              "watch.sh": Answer(exit_status=1, stderr="mount: wrong fs type")}  # fmt: skip
    verdict = run(HangDetection(), rules, tmp_path)
    assert (
        verdict.status is Status.FAILED and verdict.message == "using the module for 12 s failed: mount: wrong fs type"
    )


def test_a_soft_lockup_while_watched_fails_hang_detection_with_the_watchdogs_words(tmp_path: Path) -> None:
    rules: dict[str, Answer | list[Answer]] = {"sysctl -n": ARMED, "grep -q": Answer(exit_status=1),
                                              "watch.sh": Answer(timeout=True, log=SOFT_LOCKUP)}  # fmt: skip
    verdict = run(HangDetection(), rules, tmp_path)
    assert verdict.message.startswith("using the module for 12 s did not return within 37 s: BUG: soft lockup")
    assert verdict.metrics["hung_task_timeout_s"] == "10"


def _users(*paths: tuple[str, str, dict[str, int]], users: int = 8, rounds: int = 12) -> str:
    """Lines as users.sh prints them: each user's `exercised JSON`."""
    report = {"rounds": rounds, "paths": {path: {"kind": kind, "counts": counts} for path, kind, counts in paths}}
    return "".join(f"exercised {json.dumps(report)}\n" for _ in range(users))


PARAMETERS = ("/sys/module/mod/parameters/size", "parameters", {"open": 12, "read": 12})
DEVICE = ("/dev/mod", "chardev", {"open": 60, "close": 48, "read": 96, "write": 48, "ioctl MOD_GET": 48})


def test_the_users_of_concurrency_are_the_watch_when_they_kept_the_module_busy_long_enough(tmp_path: Path) -> None:
    said = f"watched_s=13\n{_users(PARAMETERS)}"
    rules: dict[str, Answer | list[Answer]] = {"sysctl -n": ARMED, "users.sh": Answer(said),
                                              "grep -q": Answer(exit_status=1)}  # fmt: skip
    users, hangs = run_in_order([Concurrency(), HangDetection()], rules, tmp_path)
    assert users.message.endswith("then 8 users for 13 s: 1 file read 96 times: no kernel problem")
    assert users.metrics["exercised"] == {"/sys/module/mod/parameters/size": {"open": 96, "read": 96}}
    assert hangs.status is Status.PASSED and hangs.metrics["watched_in"] == "concurrency"
    assert hangs.message.startswith("no hung task, soft lockup or RCU stall in 13 s with the module loaded without a "
                                    "break while concurrency's users ran (1 file read 96 times;")  # fmt: skip


def test_the_users_say_what_they_did_to_each_device_with_counts() -> None:
    said = use_of(_users(DEVICE, PARAMETERS), [])
    assert said == ("/dev/mod: 480 opens, 768 reads, 384 writes, 1 ioctl from the source x 384 calls; "
                    "1 file read 96 times")  # fmt: skip


def test_users_who_found_nothing_to_use_say_so_instead_of_claiming_use() -> None:
    assert use_of(f"watched_s=12\n{_users(rounds=0)}", []) == (
        "they found nothing the module exposes (no device, file, parameter or filesystem): it only stayed loaded")  # fmt: skip
    assert use_of("  40 filesystem_walk\n  40 extra_mount\n", ["vexfs"]) == (
        "40 walks of vexfs; 40 extra mounts of vexfs")  # fmt: skip


def test_users_that_did_not_report_make_concurrency_an_error(tmp_path: Path) -> None:
    said = f"watched_s=13\n{_users(PARAMETERS, users=6)}"
    rules: dict[str, Answer | list[Answer]] = {"users.sh": Answer(said, stderr="MemoryError"),
                                              "grep -q": Answer(exit_status=1)}  # fmt: skip
    verdict = run(Concurrency(), rules, tmp_path)
    assert (
        verdict.status is Status.ERROR and verdict.message == "parallel use: 2 of 8 users did not report: MemoryError"
    )


def test_hang_detection_watches_itself_when_concurrency_did_not_keep_the_module_busy_long_enough(
    tmp_path: Path,
) -> None:
    rules: dict[str, Answer | list[Answer]] = {"sysctl -n": ARMED, "users.sh": Answer(f"watched_s=4\n{_users()}"),
                                              "grep -q": Answer(exit_status=1),
                                              "watch.sh": Answer(timeout=True, log=SOFT_LOCKUP)}  # fmt: skip
    users, hangs = run_in_order([Concurrency(), HangDetection()], rules, tmp_path)
    assert users.status is Status.PASSED and hangs.status is Status.FAILED
    assert hangs.message.startswith("using the module for 12 s did not return within 37 s: BUG: soft lockup")


def test_failed_parallel_operations_fail_concurrency(tmp_path: Path) -> None:
    verdict = run(Concurrency(), {"users.sh": Answer(f"      3 error\n{_users()}")}, tmp_path)
    assert verdict.status is Status.FAILED and verdict.message == "parallel use: 3 operations on its filesystems failed"


def test_a_race_script_that_cannot_finish_fails_concurrency(tmp_path: Path) -> None:
    verdict = run(Concurrency(), {"race.sh": Answer(exit_status=2, stderr="fork failed")}, tmp_path)
    assert verdict.status is Status.FAILED and verdict.message == "racing load/unload failed (exit 2): fork failed"


def test_a_module_left_loaded_after_the_races_fails_concurrency(tmp_path: Path) -> None:
    verdict = run(Concurrency(), {"grep -q": Answer(exit_status=0)}, tmp_path)
    assert verdict.message == "the module is still loaded after the last racer unloaded it"


def test_a_mistake_that_succeeds_fails_error_handling_naming_it(tmp_path: Path) -> None:
    rules: dict[str, Answer | list[Answer]] = {"grep -q": Answer(exit_status=1), "not-a-number": Answer("")}
    verdict = run(ErrorHandling(), rules, tmp_path)
    assert verdict.status is Status.FAILED
    assert "uint parameter size=not-a-number: succeeded" in verdict.message
    assert "rmmod of an absent module: succeeded" in verdict.message


def test_a_mistake_that_fails_but_leaves_the_module_loaded_fails_error_handling(tmp_path: Path) -> None:
    refused = "insmod: ERROR: could not insert module: Invalid parameters\nvexfs-vmtest: loaded=1\n"
    rules: dict[str, Answer | list[Answer]] = {"not-a-number": Answer(refused, exit_status=1)}
    verdict = run(ErrorHandling(), rules, tmp_path)
    assert (
        "uint parameter size=not-a-number: failed (insmod: ERROR: could not insert module: Invalid parameters) "
        "but left the module loaded;" in verdict.message
    )


def test_a_mistake_that_oopses_fails_error_handling_with_the_oops(tmp_path: Path) -> None:
    rules: dict[str, Answer | list[Answer]] = {"grep -q": Answer(exit_status=1), "corrupt.ko": Answer(log=OOPS)}
    verdict = run(ErrorHandling(), rules, tmp_path)
    assert verdict.message.startswith(
        "truncated .ko logged a problem: BUG: unable to handle kernel NULL pointer dereference"
    )
    assert "rmmod of an absent module" in verdict.metrics["checks"]


def test_slab_validation_after_a_test_fails_it_naming_the_module_when_the_report_does(tmp_path: Path) -> None:
    report = ("[ 70.0] BUG kmalloc-64 (Tainted: G OE): Poison overwritten",
              "[ 70.1] Allocated in mod_init+0x1c/0x30 [mod] age=26 cpu=0 pid=201")  # fmt: skip
    module = BuiltModule("mod", tmp_path / "mod.ko", 1, RELEASE, "A", {}, {}, ())
    build = BuildOutcome("chroot", 0, 1.0, "", (module,))
    chosen = options.parse(ModuleOptions, {"module_dir": tmp_path})
    machine = ScriptedMachine({"validate.sh": Answer(log=report)})
    subject = ModuleUnderTest(Guest(machine), chosen, build, module, RELEASE, tmp_path, "lite")  # type: ignore[arg-type]
    verdict = subject.audit("load")
    assert verdict is not None and verdict.status is Status.FAILED and verdict.guest_dirty
    assert verdict.message.startswith("slab validation after the test found corruption (the report names mod: ")
    assert subject.audit("build") is None
    plain = ModuleUnderTest(Guest(machine), chosen, build, module, RELEASE, tmp_path, "off")  # type: ignore[arg-type]
    assert plain.audit("load") is None


def test_an_init_that_keeps_insmod_past_the_hung_task_threshold_fails_load(tmp_path: Path) -> None:
    slow = Answer(duration_s=16.2)
    verdict = run(Load(), {"probe.sh": [ABSENT, probe()], "insmod": slow}, tmp_path)
    assert verdict.status is Status.FAILED
    assert verdict.message.startswith("insmod took 16.2 s: init kept the loading task busy past the hung-task")


def test_an_insmod_blocked_past_the_hung_task_threshold_fails_hang_detection(tmp_path: Path) -> None:
    verdict = run(HangDetection(), {"sysctl -n": Answer("10\n5\n"), "insmod": Answer(duration_s=17.0)}, tmp_path)
    assert verdict.status is Status.FAILED and verdict.message.startswith("insmod blocked for 17.0 s")


# The kernel's own lines when it loaded a module with parameters it does not take (6.1 guest, tests/unit/fixtures/
# kernel_logs/clean.log has them for vexfs).
IGNORED = ("[  132.373110] mod: unknown parameter 'nosuchparam' ignored",)
REFUSED = ("[  133.401819] mod: `not-a-number' invalid for parameter `size'",)


def test_a_load_whose_parameters_the_kernel_ignored_fails_in_its_words_and_unloads(tmp_path: Path) -> None:
    machine = ScriptedMachine({"probe.sh": [ABSENT, probe()], "insmod": Answer(log=IGNORED)})
    verdict = Load().run(_subject(machine, tmp_path, params=("nosuchparam=1",)))
    assert verdict.status is Status.FAILED and not verdict.guest_dirty
    assert (
        verdict.message
        == "loading: the kernel did not take the module's parameters: mod: unknown parameter 'nosuchparam' ignored"
    )
    assert verdict.kernel_log == IGNORED
    assert any(command.endswith("rmmod mod") for command in machine.commands), "later tests load it as asked"


def test_a_load_is_not_blamed_for_the_parameters_of_another_module(tmp_path: Path) -> None:
    other = ("[  132.3] loop: unknown parameter 'nosuchparam' ignored", "[  132.4] mod: loading out-of-tree module")
    machine = ScriptedMachine({"probe.sh": [ABSENT, probe()], "insmod": Answer(log=other)})
    assert Load().run(_subject(machine, tmp_path)).status is Status.PASSED


def test_an_insmod_refused_for_a_parameter_value_quotes_the_kernel(tmp_path: Path) -> None:
    refused = Answer(stderr="insmod: ERROR: could not insert module /root/vexfs-vmtest/mod.ko: Invalid parameters\n",
                     exit_status=1, log=REFUSED)  # fmt: skip
    verdict = run(Load(), {"probe.sh": ABSENT, "insmod": refused}, tmp_path)
    assert verdict.status is Status.FAILED
    assert verdict.message == (
        "insmod failed: insmod: ERROR: could not insert module /root/vexfs-vmtest/mod.ko: Invalid parameters "
        "(the kernel: mod: `not-a-number' invalid for parameter `size')"
    )


def _subject(machine: ScriptedMachine, tmp_path: Path, **values: object) -> ModuleUnderTest:
    module = BuiltModule("mod", tmp_path / "mod.ko", 4096, f"{RELEASE} SMP mod_unload", "ABC", {"size": "uint"}, {}, ())
    build = BuildOutcome("chroot", 0, 1.5, "", (module,))
    chosen = options.parse(ModuleOptions, {"module_dir": tmp_path, **values})
    return ModuleUnderTest(Guest(machine), chosen, build, module, RELEASE, tmp_path)  # type: ignore[arg-type]


def test_parameters_are_cut_as_the_kernel_cuts_them() -> None:
    assert kernel_arguments('a b=1 s="x y" "t=u v"  flag') == ["a", "b=1", 's="x y"', '"t=u v"', "flag"]
    assert kernel_arguments("  ") == []


def test_a_workload_that_fails_fails_concurrency_with_its_last_words(tmp_path: Path) -> None:
    script = tmp_path / "load.sh"
    script.write_text("exec cat /dev/mod\n")
    said = f"     94 workload_ok\n      2 workload_failed\nwatched_s=13\n{_users(DEVICE)}"
    rules: dict[str, Answer | list[Answer]] = {"users.sh": Answer(said, stderr="cat: /dev/mod: Device busy\n"),
                                              "grep -q": Answer(exit_status=1)}  # fmt: skip
    verdict = run(Concurrency(), rules, tmp_path, values={"workload": script})
    assert verdict.status is Status.FAILED
    assert verdict.message == "parallel use: the workload load.sh failed 2 of 96 runs: cat: /dev/mod: Device busy"


def test_the_runs_of_a_workload_are_counted_with_what_the_users_did(tmp_path: Path) -> None:
    script = tmp_path / "load.sh"
    script.write_text("true\n")
    said = f"     96 workload_ok\nwatched_s=13\n{_users(PARAMETERS)}"
    rules: dict[str, Answer | list[Answer]] = {"users.sh": Answer(said), "grep -q": Answer(exit_status=1)}
    verdict = run(Concurrency(), rules, tmp_path, values={"workload": script})
    assert verdict.message.endswith("8 users for 13 s: 1 file read 96 times; 96 runs of load.sh: no kernel problem")


def test_a_workload_must_be_a_readable_script_of_reasonable_size(tmp_path: Path) -> None:
    huge = tmp_path / "huge.sh"
    huge.write_bytes(b"#" * (workload.MAX_BYTES + 1))
    for path, said in ((tmp_path / "absent.sh", "does not exist"), (tmp_path, "is not a file"),
                       (huge, f"is {workload.MAX_BYTES + 1} bytes")):  # fmt: skip
        problem = workload.problem(path)
        assert problem is not None and said in problem and problem.startswith(f"--workload {path} ")
    assert workload.problem(Path(__file__)) is None


def test_hostile_module_inputs_are_refused_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "Kbuild").write_text("obj-m := mod.o\n")
    settings = config.load({"results_dir": str(tmp_path / "results")})
    long_name = tmp_path / ("n" * 300)
    cases = {
        "module_dir": (long_name, "cannot be used (File name too long)"),
        "workload": (long_name, "cannot be used (File name too long)"),
        "params": (tuple(f"p{i}=1" for i in range(MAX_PARAMETERS + 1)), f"give at most {MAX_PARAMETERS}"),
    }
    for field, (value, said) in cases.items():
        chosen = options.parse(ModuleOptions, {"module_dir": tmp_path, field: value})
        problems = constraints(chosen, settings)
        assert any(said in problem for problem in problems), problems
    huge = options.parse(ModuleOptions, {"module_dir": tmp_path, "params": ("a=" + "x" * 5000,)})
    assert any("is 5002 bytes: give at most 4096" in problem for problem in constraints(huge, settings))


def test_a_region_a_user_read_back_different_fails_concurrency(tmp_path: Path) -> None:
    region = "/dev/blk0: 65536 bytes written at offset 4128768 read back different (first at byte 8)"
    report = {"rounds": 3, "paths": {"/dev/blk0": {"kind": "blockdev", "counts": {"open": 4}}}, "wrong": [region]}
    said = f"watched_s=13\n{_users()}exercised {json.dumps(report)}\n"
    rules: dict[str, Answer | list[Answer]] = {"users.sh": Answer(said), "grep -q": Answer(exit_status=1)}
    verdict = run(Concurrency(), rules, tmp_path)
    assert verdict.status is Status.FAILED and verdict.message == f"parallel use: {region}"


# what SLUB said of write_after_free on 6.1 as it loaded: its init, freed by then, is a bare address
POISONED_AS_IT_LOADED = (
    "[   27.149401] BUG kmalloc-64 (Tainted: G           OE     ): Poison overwritten",
    "[   27.150656] Allocated in 0xffffffffc021b01c age=5 cpu=0 pid=181",
    "[   27.151398]  kmalloc_trace+0x26/0x90",
    "[   27.152008]  0xffffffffc021b01c",
    "[   27.152584] Freed in 0xffffffffc021b031 age=5 cpu=0 pid=181",
)


def test_a_report_made_as_the_module_loaded_is_placed_by_the_sections_a_probe_finds_then(tmp_path: Path) -> None:
    loaded = Answer(probe().stdout + "sections=.init.text:0xffffffffc021b000 .text:0xffffffffc0219000 \n")
    machine = ScriptedMachine({"probe.sh": loaded})
    subject = _subject(machine, tmp_path)
    assert subject.module is not None
    subject.module = dataclasses.replace(subject.module, code_sections={".init.text": 64},
                                         symbols=(elf.Symbol("write_after_free_init", ".init.text", 0, 64),))  # fmt: skip
    verdict = Verdict.failed("insmod did not return within 25 s: SLUB: Poison overwritten in kmalloc-64",
                             POISONED_AS_IT_LOADED)  # fmt: skip
    said = subject.symbolize(verdict)
    assert subject.sections == {".init.text": 0xFFFFFFFFC021B000, ".text": 0xFFFFFFFFC0219000}
    assert said.message == f"{verdict.message} (file:line unknown: mod.ko carries no debug info)"  # built without -g
    assert subject.symbolize(Verdict.failed("insmod failed", ("[ 1.0] no address here",))).message == "insmod failed"
    assert sum("probe.sh" in command for command in machine.commands) == 1


def test_bare_addresses_no_recorded_load_holds_are_said_unknown_when_the_guest_no_longer_answers(
    tmp_path: Path,
) -> None:
    subject = _subject(ScriptedMachine({"probe.sh": Answer(unreachable=True)}), tmp_path)
    verdict = Verdict.failed("insmod did not return within 25 s: SLUB: Poison overwritten in kmalloc-64",
                             POISONED_AS_IT_LOADED)  # fmt: skip
    said = subject.symbolize(verdict)
    assert (
        said.message
        == f"{verdict.message} (file:line unknown for 2 bare addresses: no recorded load of mod holds them)"
    )
    assert subject.sections == {} and said.kernel_log_symbolized == ()
