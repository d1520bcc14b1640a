"""The classifier against real console output of guests running the broken fixture modules."""

from pathlib import Path

import pytest

from toolkit import kernel_log

FIXTURES = Path(__file__).parent / "fixtures" / "kernel_logs"


def _problems(name: str) -> list[kernel_log.Problem]:
    return kernel_log.classify((FIXTURES / f"{name}.log").read_text().splitlines())


def test_clean_run_has_no_problems_even_with_rejected_modules_and_ignored_parameters() -> None:
    text = (FIXTURES / "clean.log").read_text()
    assert "Invalid ELF header magic" in text and "unknown parameter" in text
    assert _problems("clean") == []


def test_null_dereference_in_exit_is_one_oops_report_through_its_end_trace() -> None:
    problems = _problems("oops")
    assert [p.kind for p in problems] == ["oops"]
    oops = problems[0]
    assert oops.line == "BUG: kernel NULL pointer dereference, address: 0000000000000000"
    assert "oops_exit_exit+0xe/0x1000 [oops_exit]" in "\n".join(oops.excerpt)
    assert "---[ end trace" in oops.excerpt[-1]
    assert any("Call Trace:" in line for line in oops.excerpt)


def test_hung_init_is_a_hung_task_report_with_its_call_trace() -> None:
    problems = _problems("hung_task")
    assert problems[0].kind == "hung_task"
    assert problems[0].line.startswith("INFO: task insmod:") and "blocked for more than 10 seconds" in problems[0].line
    assert any("hang_init_init" in line for line in problems[0].excerpt)


def test_busy_init_is_a_soft_lockup_naming_the_task() -> None:
    problems = _problems("soft_lockup")
    assert problems[0].kind == "soft_lockup"
    assert "soft lockup - CPU#0 stuck for 13s! [insmod:" in problems[0].line
    assert any("busy_init_init" in line for line in problems[0].excerpt)


def test_rcu_stall_is_recognised() -> None:
    problems = _problems("rcu_stall")
    assert [p.kind for p in problems] == ["rcu_stall"]
    assert problems[0].line == "rcu: INFO: rcu_preempt self-detected stall on CPU"


def test_failing_init_logs_its_words_but_no_problem() -> None:
    assert _problems("init_fail") == []
    assert "init_fail: no device here" in (FIXTURES / "init_fail.log").read_text()


def test_a_write_after_free_under_slub_debug_is_a_slab_report_with_its_tracks() -> None:
    [problem] = _problems("slab_poison")
    assert (problem.kind, problem.line) == (
        "slab_corruption",
        "BUG kmalloc-64 (Tainted: G           OE     ): Poison overwritten",
    )
    assert any("Allocated in" in line for line in problem.excerpt) and any(
        "Freed in" in line for line in problem.excerpt
    )


def test_a_double_free_under_slub_debug_is_reported_as_the_kernel_words_it() -> None:
    problems = _problems("slab_double_free")
    assert problems[0].line.endswith("): Object already free") and problems[0].kind == "slab_corruption"
    assert any("Wrong object count" in p.line for p in problems)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("[  1.0] WARNING: CPU: 1 PID: 42 at drivers/x.c:10 f+0x1/0x2 [m]", "warning"),
        ("[  1.0] WARNING: init/main.c:1365 at do_one_initcall+0x2de/0x3d0, CPU#1: insmod/448", "warning"),  # 7.x
        ("[  1.0] general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP", "gpf"),
        ("[  1.0] Kernel panic - not syncing: Fatal exception", "panic"),
        ("[  1.0] BUG: KASAN: slab-use-after-free in m_exit+0x1/0x2 [m]", "kasan"),
        ("[  1.0] kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)", "kmemleak"),
        ("[  1.0] UBSAN: array-index-out-of-bounds in m.c:12:5", "ubsan"),
        ("[  1.0] list_add corruption. prev->next should be next (ffff8880), but was 0000", "list_corruption"),
        ("[  1.0] kernel BUG at fs/m.c:33!", "bug"),
        ("[  1.0] BUG: KFENCE: use-after-free write in m_init+0x1c/0x30 [m]", "kfence"),
        ("[  1.0] BUG kmalloc-64 (Not tainted): Redzone overwritten", "slab_corruption"),
        ("[  1.0] BUG skbuff_head_cache (Tainted: G B): Freepointer corrupt", "slab_corruption"),
        ("[  1.0] vexfs-vmtest: load 1234", None),
        ("[  1.0] m: loading out-of-tree module taints kernel.", None),
    ],
)
def test_each_kind_has_its_pattern(line: str, kind: str | None) -> None:
    assert kernel_log.kind_of(line) == kind


def test_cut_here_and_its_warning_are_one_report() -> None:
    lines = [
        "[ 5.0] ------------[ cut here ]------------",
        "[ 5.0] WARNING: CPU: 0 PID: 7 at m.c:3 m_init+0x5/0x9 [m]",
        "[ 5.0] Call Trace:",
        "[ 5.0]  <TASK>",
        "[ 5.0] ---[ end trace 0000000000000000 ]---",
        "[ 6.0] unrelated line",
    ]
    problems = kernel_log.classify(lines)
    assert len(problems) == 1
    assert problems[0].kind == "warning" and problems[0].line.startswith("WARNING: CPU: 0")
    assert len(problems[0].excerpt) == 5


def test_lines_after_takes_what_follows_the_last_marker() -> None:
    log = "a\nvexfs-vmtest: load 1\nb\nvexfs-vmtest: load 1\nc\n"
    assert kernel_log.lines_after(log, "vexfs-vmtest: load 1") == ["c"]
    assert kernel_log.lines_after("x\ny", "absent") == ["x", "y"]


def test_out_of_tree_and_unsigned_taint_is_expected_anything_else_is_not() -> None:
    assert kernel_log.unexpected_taint(0, 4096 | 8192) == []
    assert kernel_log.unexpected_taint(0, 4096 | 8192 | 1 << 18) == []  # N: a module's KUnit suites ran
    assert kernel_log.unexpected_taint(4096, 4096 | 512 | 128) == ["D kernel died (oops)", "W kernel warning"]
    assert kernel_log.taint_flags(16384) == ["L soft lockup"]


def test_a_warning_after_a_reports_call_trace_is_a_report_of_its_own() -> None:
    for name in ("scheduling_while_atomic", "scheduling_while_atomic_7.x"):
        atomic, warning = _problems(name)
        assert atomic.line.startswith("BUG: scheduling while atomic: insmod/")
        assert atomic.excerpt[-1].endswith("</TASK>") and not any("cut here" in line for line in atomic.excerpt)
        assert "cut here" in warning.excerpt[0] and "preemption imbalance" in warning.excerpt[1]


def test_a_list_corruption_and_the_kernel_bug_it_raises_are_one_report() -> None:
    for name in ("list_add_corruption", "list_add_corruption_7.x"):
        [problem] = _problems(name)
        assert problem.line.startswith("list_add corruption. next->prev should be prev")
        assert any("kernel BUG at lib/list_debug.c" in line for line in problem.excerpt)
        assert "---[ end trace" in problem.excerpt[-1]
