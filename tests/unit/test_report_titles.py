"""Report titles against real kernel logs of guests running broken modules (5.10, 6.1, 6.12, 7.x): the fixture
modules, and one-fault modules loaded by hand for the kinds no fixture module reaches (their functions are
`fault_<what>`)."""

from pathlib import Path

import pytest

from toolkit import kernel_log, report_titles

FIXTURES = Path(__file__).parent / "fixtures" / "kernel_logs"

# fixture (a real guest's console) -> (kind, title) of each report in it, in order
REAL_REPORTS = {
    "oops": [("oops", "BUG: unable to handle kernel NULL pointer dereference in oops_exit_exit")],
    "oops_7.x": [("oops", "BUG: unable to handle kernel NULL pointer dereference in oops_exit_exit")],
    "warning_copy_overflow_6.1": [("warning", "WARNING in __copy_overflow")],
    "slab_double_free_race_6.1": [("slab_corruption", "SLUB: Object already free in kmalloc-32")] * 2,
    "oops_timer_7.x": [
        ("oops", "BUG: unable to handle kernel paging request in __run_timers"),
        ("panic", "kernel panic: Fatal exception in interrupt"),
    ],
    "hung_task": [("hung_task", "INFO: task hung in hang_init_init"), ("rcu_stall", "INFO: rcu detected stall")],
    "hung_task_7.x": [("hung_task", "INFO: task hung in hang_init_init")],
    "soft_lockup": [("soft_lockup", "BUG: soft lockup in busy_init_init"), ("rcu_stall", "INFO: rcu detected stall")],
    "rcu_stall": [("rcu_stall", "INFO: rcu detected stall")],
    "slab_poison": [("slab_corruption", "SLUB: Poison overwritten in kmalloc-64")],
    "slab_double_free": [
        ("slab_corruption", "SLUB: Object already free in kmalloc-96"),
        ("slab_corruption", "SLUB: Wrong object count in kmalloc-96"),
    ],
    "slab_double_free_7.x": [("slab_corruption", "SLUB: Object already free in kmalloc-96")],
    "slab_freepointer_7.x": [("slab_corruption", "SLUB: Freepointer corrupt in kmem_cache_node")],
    "warning_6.12": [("warning", "WARNING in __do_sys_delete_module")],
    "warning_7.x": [("warning", "WARNING in __do_sys_delete_module")],
    "oops_5.10": [("oops", "BUG: unable to handle kernel NULL pointer dereference in fault_null")],
    "oops_6.12": [("oops", "BUG: unable to handle kernel NULL pointer dereference in fault_null")],
    "gpf": [("gpf", "general protection fault in fault_gpf")],
    "gpf_7.x": [("gpf", "general protection fault in fault_gpf")],
    "list_add_corruption": [("list_corruption", "list_add corruption in fault_list_add")],
    "list_add_corruption_7.x": [("list_corruption", "list_add corruption in fault_list_add")],
    "list_del_corruption": [("list_corruption", "list_del corruption in fault_list_del")],
    "list_del_corruption_5.10": [("list_corruption", "list_del corruption in fault_list_del")],
    "list_del_corruption_7.x": [("list_corruption", "list_del corruption in fault_list_del")],
    "scheduling_while_atomic": [
        ("atomic_sleep", "BUG: scheduling while atomic in fault_scheduling_while_atomic"),
        ("warning", "WARNING in do_one_initcall"),
    ],
    "scheduling_while_atomic_7.x": [
        ("atomic_sleep", "BUG: scheduling while atomic in fault_scheduling_while_atomic"),
        ("warning", "WARNING in do_one_initcall"),
    ],
    "kfence_oob_6.12": [("kfence", "KFENCE: out-of-bounds read in fault_kfence_oob")],
    "kfence_oob_7.x": [("kfence", "KFENCE: out-of-bounds read in fault_kfence_oob")],
    "kfence_uaf_6.12": [("kfence", "KFENCE: use-after-free read in fault_kfence_uaf")],
    "kfence_uaf_7.x": [("kfence", "KFENCE: use-after-free read in fault_kfence_uaf")],
    "kfence_corruption_7.x": [("kfence", "KFENCE: memory corruption in fault_kfence_corrupt")],
    "kfence_invalid_free_7.x": [("kfence", "KFENCE: invalid free in fault_kfence_invalid_free")],
    "ubsan_array_index_7.x": [("ubsan", "UBSAN: array-index-out-of-bounds in fault_ubsan_index")],
    "ubsan_shift_7.x": [("ubsan", "UBSAN: shift-out-of-bounds in fault_ubsan_shift")],
    # the debug kernel (KASAN, kmemleak, lockdep, UBSAN): the fixture modules, and the one-fault module's fault_*
    "kasan_use_after_free_6.1-debug": [("kasan", "KASAN: use-after-free Write in write_after_free_init")],
    # 7.x's KASAN names the slab in its kind; the excerpt is the one a test keeps (its first 60 lines)
    "kasan_use_after_free_7.x-debug": [("kasan", "KASAN: slab-use-after-free Write in write_after_free_init")],
    "kasan_slab_out_of_bounds_6.1-debug": [("kasan", "KASAN: slab-out-of-bounds Read in oob_read_init")],
    # double_free_exit's second kfree is a tail call: the trace goes from the unloader straight to the free
    "kasan_double_free_6.1-debug": [("kasan", "KASAN: double-free in __do_sys_delete_module")],
    # kmemleak's report as read from debugfs; leaky_init's code was freed after it ran, a bare address
    "kmemleak_6.1-debug": [("kmemleak", "memory leak")] * 4,
    "lockdep_circular_6.1-debug": [("lockdep", "possible deadlock in lock_inversion_init")],
    "lockdep_circular_7.x-debug": [("lockdep", "possible deadlock in lock_inversion_init")],
    "sleeping_in_atomic_6.1-debug": [
        ("atomic_sleep", "BUG: sleeping function called from invalid context in sleep_in_atomic_init")
    ],
    # KASAN turns a NULL dereference into a fault on the shadow of address 0
    "gpf_kasan_null_6.1-debug": [("gpf", "general protection fault in fault_null")],
    "ubsan_array_index_6.1-debug": [
        ("ubsan", "UBSAN: array-index-out-of-bounds in fault_ubsan_index"),
        ("kasan", "KASAN: stack-out-of-bounds Read in fault_ubsan_index"),
    ],
}


@pytest.mark.parametrize("fixture", sorted(REAL_REPORTS))
def test_each_real_report_has_its_title(fixture: str) -> None:
    problems = kernel_log.classify((FIXTURES / f"{fixture}.log").read_text().splitlines())
    assert [(problem.kind, problem.title) for problem in problems] == REAL_REPORTS[fixture]


def test_every_recorded_log_is_titled_above_or_holds_no_report() -> None:
    unlisted = [path.stem for path in sorted(FIXTURES.glob("*.log")) if path.stem not in REAL_REPORTS]
    assert unlisted == ["clean", "init_fail"]
    assert [kernel_log.classify((FIXTURES / f"{name}.log").read_text().splitlines()) for name in unlisted] == [[], []]


def test_a_title_holds_no_address_offset_pid_cpu_taint_or_time() -> None:
    for fixture in REAL_REPORTS:
        for problem in kernel_log.classify((FIXTURES / f"{fixture}.log").read_text().splitlines()):
            assert not any(mark in problem.title for mark in ("0x", "+", "CPU#", "Tainted", "[", ":1", "insmod:"))


def test_7x_null_dereference_and_its_oops_line_are_one_report() -> None:
    [problem] = kernel_log.classify((FIXTURES / "oops_7.x.log").read_text().splitlines())
    assert any(line.endswith("Oops: Oops: 0000 [#1] SMP NOPTI") for line in problem.excerpt)


# 7.x's wording of a slab overwrite as the fixture devices' READMEs record it: what first, then the cache
SLAB_7X = [
    "[ 30.5] [Poison overwritten] 0xffff888007557c48-0xffff888007557c48 @offset=3144. First byte 0x6f instead of 0x6b",
    "[ 30.5] BUG buggydev_note (Tainted: G    B      OE      ): Object corrupt",
    "[ 30.5] -----------------------------------------------------------------------------",
]


def test_7x_slab_overwrite_is_titled_by_what_was_overwritten_and_the_cache() -> None:
    [problem] = kernel_log.classify(SLAB_7X)
    assert problem.title == "SLUB: Poison overwritten in buggydev_note"


# a cache destroyed with an object left (a failed load's error path), as 6.1 and 7.x word it
REMAINING = {
    "6.1": "[ 50.5] BUG cacheleak_entry (Tainted: G           O      ): Objects remaining in cacheleak_entry on "
    "__kmem_cache_shutdown()",
    "7.x": "[ 50.5] BUG cacheleak_entry (Tainted: G           O       ): Objects remaining on __kmem_cache_shutdown()",
}


@pytest.mark.parametrize("line", REMAINING)
def test_a_cache_destroyed_with_objects_left_has_one_title_on_every_line(line: str) -> None:
    [problem] = kernel_log.classify([REMAINING[line], "[ 50.5] ---------------------------------------------"])
    assert problem.title == "SLUB: Objects remaining on __kmem_cache_shutdown() in cacheleak_entry"


@pytest.mark.parametrize(
    ("kind", "lines", "title"),
    [
        (
            "kasan",
            ["BUG: KASAN: slab-use-after-free in mydev_open+0x25/0x80 [mydev]",
             "Write of size 4 at addr ffff888003a1b010 by task cat/201"],
            "KASAN: slab-use-after-free Write in mydev_open",
        ),
        ("kfence", ["BUG: KFENCE: out-of-bounds read in foo+0x1c/0x30 [m]"], "KFENCE: out-of-bounds read in foo"),
        (
            "gpf",
            ["general protection fault, probably for non-canonical address 0xdffffc0000000002: 0000 [#1] SMP KASAN",
             "RIP: 0010:mydrv_ioctl+0x4a/0x120 [mydrv]"],
            "general protection fault in mydrv_ioctl",
        ),
        (
            "list_corruption",
            ["list_add corruption. prev->next should be next (ffff8880), but was 0000",
             "RIP: 0010:__list_add_valid_or_report+0x6e/0xa0", "Call Trace:", " <TASK>",
             " ? __list_add_valid_or_report+0x6e/0xa0", " mydev_set_fill+0x51/0x90 [mydev]"],
            "list_add corruption in mydev_set_fill",
        ),
        ("bug", ["kernel BUG at fs/myfs/super.c:33!", "RIP: 0010:myfs_fill_super+0x12/0x40 [myfs]"],
         "kernel BUG in myfs_fill_super"),
        (
            "lockdep",
            ["WARNING: possible circular locking dependency detected", "Call Trace:", " dump_stack_lvl+0x44/0x5c",
             " __lock_acquire+0x1a/0x2f0", " lock_acquire+0xd4/0x2c0", " mydrv_poll+0x20/0x60 [mydrv]"],
            "possible deadlock in mydrv_poll",
        ),
        ("warning", ["WARNING: CPU: 1 PID: 42 at drivers/x.c:10 mymod_exit+0x1/0x2 [mymod]"], "WARNING in mymod_exit"),
        (
            "kmemleak",
            ["unreferenced object 0xffff888003a4b000 (size 64):", "  backtrace:",
             "    [<00000000c4f1a2b3>] __kmem_cache_alloc_node+0x1a2/0x2c0",
             "    [<000000003b2c4e0f>] kmalloc_trace+0x26/0x60", "    [<000000008c5ba3a6>] mymod_init+0x21/0x40 [mymod]"],
            "memory leak in mymod_init",
        ),
        (
            "kmemleak",
            ["unreferenced object 0xff110000063a3900 (size 64):", "  backtrace:",
             "    [<000000003fb28e2d>] kmalloc_trace+0x21/0xc0", "    [<00000000104b8047>] 0xffffffffc0338059",
             "    [<00000000ae988381>] do_one_initcall+0xc9/0x380"],
            "memory leak",
        ),
        ("panic", ["Kernel panic - not syncing: Fatal exception"], "kernel panic: Fatal exception"),
    ],
)  # fmt: skip
def test_each_kind_is_titled_from_its_own_lines_past_the_kernels_machinery(
    kind: str, lines: list[str], title: str
) -> None:
    assert report_titles.title(kind, lines) == title


@pytest.mark.parametrize(
    ("site", "title"),
    [
        ("leaky_init+0x21", "memory leak in leaky_init"),  # 6.1's leak trace of the leaky fixture
        ("leaky_init+0x22", "memory leak in leaky_init"),  # 7.x's
        ("0xffffffffc0230021", "memory leak"),
    ],
)
def test_a_leak_is_titled_by_its_allocation_site_without_offset(site: str, title: str) -> None:
    assert report_titles.leak(site) == title
