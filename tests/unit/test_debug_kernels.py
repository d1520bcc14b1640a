"""Debug kernels: variant lines, their config and cache keys, kmemleak's reports and the fault-injection sweep."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.scripted import Answer
from tests.unit.test_kernel_module_cases import OOPS, run
from toolkit import kernel_log, kernels
from toolkit.boxes import kernel_build, kernel_config
from toolkit.boxes.kernel_build import KernelBuild
from toolkit.boxes.recipe import BoxRecipe
from toolkit.domains.kernel_module.errors import ErrorHandling
from toolkit.domains.module import kmemleak
from toolkit.domains.module.options import ModuleOptions
from toolkit.errors import UserError
from toolkit.results.records import Status


def test_a_variant_is_named_by_line_or_suite_with_its_profile() -> None:
    assert kernels.select("6.1-debug") == kernels.select("bookworm-debug") == kernels.select("6.1").variant("debug")
    variant = kernels.select("7-debug")
    assert (variant.name, variant.suite, variant.profile) == ("7.x-debug", "sid", "debug")
    assert variant.base == kernels.select("7.x") and variant.slowdown > kernels.select("7.x").slowdown == 1.0


def test_unknown_profiles_and_lines_say_what_exists() -> None:
    with pytest.raises(UserError, match="unknown kernel line '6.1-fast'.*6.1-debug"):
        kernels.select("6.1-fast")
    with pytest.raises(UserError, match="unknown kernel profile 'fast': choose one of debug"):
        kernels.select("6.1").variant("fast")


def test_variants_sort_after_their_line() -> None:
    chosen = kernels.select_many("6.12-debug,5.10,6.12,6.1-debug")
    assert [line.name for line in chosen] == ["5.10", "6.1-debug", "6.12", "6.12-debug"]


def test_a_variant_box_is_keyed_on_its_config_fragments_and_the_stock_box_is_not(monkeypatch: pytest.MonkeyPatch,
                                                                                 tmp_path: Path) -> None:  # fmt: skip
    stock, variant = BoxRecipe(kernels.select("6.1")), BoxRecipe(kernels.select("6.1-debug"))
    assert variant.name.startswith("bookworm-debug-") and stock.name.startswith("bookworm-")
    before = (stock.key(), variant.key(), KernelBuild(variant.line, "6.1.176-1").key())
    for name in ("guest.config", "debug.config"):
        (tmp_path / name).write_text((kernel_config.CONFIGS / name).read_text() + "CONFIG_KCSAN=y\n")
    monkeypatch.setattr(kernel_config, "CONFIGS", tmp_path)
    after = (stock.key(), variant.key(), KernelBuild(variant.line, "6.1.176-1").key())
    assert after[0] == before[0] and after[1] != before[1] and after[2] != before[2]


def test_a_kernel_build_takes_the_source_of_the_stock_kernels_exact_version() -> None:
    build = KernelBuild(kernels.select("7.x-debug"), "7.2.13-1")
    assert build.source_package == "linux-source-7.2"
    assert (build.local_version, build.package_version) == ("-vexfs-debug", "7.2.13-1+vexfs.debug")
    assert build.key() != KernelBuild(build.line, "7.2.14-1").key()


def test_config_settings_and_what_a_kernel_did_not_take() -> None:
    fragment = "CONFIG_KASAN=y\n# CONFIG_DRM is not set\nCONFIG_FAIL_FUNCTION=y\nCONFIG_SIZE=16000\n"
    assert kernel_config.settings(fragment) == {
        "CONFIG_KASAN": "y", "CONFIG_DRM": "n", "CONFIG_FAIL_FUNCTION": "y", "CONFIG_SIZE": "16000",
    }  # fmt: skip
    final = "CONFIG_KASAN=y\n# CONFIG_FAIL_FUNCTION is not set\n"
    assert kernel_config.missing(kernel_config.settings(fragment), final) == ["CONFIG_FAIL_FUNCTION"]


def test_a_change_of_the_base_targets_gives_a_new_config_key(monkeypatch: pytest.MonkeyPatch) -> None:
    build = KernelBuild(kernels.select("6.1-debug"), "6.1.176-1")
    variant = BoxRecipe(build.line)
    before = (build.config_key(), variant.key())
    monkeypatch.setattr(kernel_config, "BASE_TARGETS", ("defconfig", "kvm_guest.config"))
    assert build.config_key() != before[0] and variant.key() != before[1]
    assert build.tree_key() == KernelBuild(build.line, "6.1.176-1").tree_key()


def test_a_guest_kernel_is_built_from_nothing_with_everything_built_in() -> None:
    assert kernel_config.BASE_TARGETS[0] == "allnoconfig"
    for profile in kernels.PROFILES:
        requested = {}
        for fragment in kernel_config.fragments(profile):
            requested.update(kernel_config.settings(fragment.read_text()))
        assert "m" not in requested.values(), profile
        # what allnoconfig leaves out and the box cannot do without: its init scripts, initramfs, sockets, disk
        for option in ("BINFMT_SCRIPT", "BLK_DEV_INITRD", "RD_GZIP", "UNIX", "INET", "EXT4_FS", "VIRTIO_CONSOLE",
                       "MODULES", "MODULE_UNLOAD", "DEVTMPFS", "TMPFS"):  # fmt: skip
            assert requested[f"CONFIG_{option}"] == "y", (profile, option)


def test_the_debug_profile_keeps_every_detector_and_inlines_its_memory_checks() -> None:
    requested = kernel_config.settings((kernel_config.CONFIGS / "debug.config").read_text())
    for option in ("KASAN", "KASAN_GENERIC", "DEBUG_KMEMLEAK", "PROVE_LOCKING", "DEBUG_ATOMIC_SLEEP", "FAILSLAB",
                   "FAIL_PAGE_ALLOC", "FAIL_FUNCTION", "FAULT_INJECTION_STACKTRACE_FILTER", "UBSAN", "KUNIT"):  # fmt: skip
        assert requested[f"CONFIG_{option}"] == "y", option
    # checks as calls compile faster but run a TCG guest about half as fast
    assert requested["CONFIG_KASAN_INLINE"] == "y" and "CONFIG_KASAN_OUTLINE" not in requested


def test_the_kernel_and_its_host_programs_are_compiled_by_one_cached_compiler() -> None:
    compilers = dict(setting.split("=", 1) for setting in kernel_build.COMPILERS)
    assert compilers["CC"] == compilers["HOSTCC"] and compilers["CC"].startswith("ccache ")


def test_every_profile_has_its_fragment_and_both_fragments_parse() -> None:
    for profile in kernels.PROFILES:
        for fragment in kernel_config.fragments(profile):
            assert kernel_config.settings(fragment.read_text()), fragment


UNLOADED_LEAK = [
    "unreferenced object 0xffff888006f2a100 (size 128):",
    '  comm "fail-nth", pid 231, jiffies 4294901234 (age 9.120s)',
    "  backtrace (crc 5a1d2b3c):",
    "    [<ffffffff8142ab10>] __kmalloc+0x4a/0x90",
    "    [<ffffffffc0210021>] 0xffffffffc0210021",
    "    [<ffffffff81003c41>] do_one_initcall+0x91/0x2f0",
]


def test_a_leak_left_by_unloaded_code_is_attributed_by_its_bare_address() -> None:
    found = kmemleak.attributed(UNLOADED_LEAK, "unwind_leak", kernel_log.in_module_area, None)
    assert [(site, leak.size) for site, leak in found] == [("0xffffffffc0210021", 128)]
    ranges = {0xFFFFFFFFC0210000: "unwind_leak_init"}
    by_range = kmemleak.attributed(UNLOADED_LEAK, "unwind_leak", lambda a: ranges.get(a & ~0xFFF), None)
    assert by_range[0][0] == "unwind_leak_init"


# 7.x prints each frame alone, without the `[<address>]` before it
UNLOADED_LEAK_7X = [
    "unreferenced object 0xff110000020f1d00 (size 128):",
    '  comm "vexfs-vmtest-fa", pid 263, jiffies 4294763008',
    "  backtrace (crc 5182d107):",
    "    __kmalloc_cache_noprof+0x567/0x630",
    "    0xffffffffc0201050",
    "    do_one_initcall+0x11f/0x4c0",
]
LOADED_LEAK_7X = [
    "unreferenced object 0xff1100000470f700 (size 64):",
    '  comm "insmod", pid 137, jiffies 4294717183',
    "  backtrace (crc b517b4de):",
    "    __kmalloc_cache_noprof+0x567/0x630",
    "    leaky_init+0x46/0x1000 [leaky]",
]


def test_a_leak_is_attributed_in_the_backtrace_format_of_7x_too() -> None:
    unloaded = kmemleak.attributed(UNLOADED_LEAK_7X, "unwind_leak", kernel_log.in_module_area, None)
    assert [(site, leak.size) for site, leak in unloaded] == [("0xffffffffc0201050", 128)]
    loaded = kmemleak.attributed(LOADED_LEAK_7X, "leaky", kernel_log.in_module_area, None)
    assert [(site, leak.size) for site, leak in loaded] == [("leaky_init+0x46", 64)]


def test_a_leak_allocated_before_the_subjects_first_scan_began_is_another_modules() -> None:
    # leaky's leaks, left where unwind_leak's code was loaded later: kmemleak reports them in its next scan
    since = kmemleak.since(None, "mode=module-nth\njiffies 4294901235\nslab 1 failed\n")
    assert since == 4294901235
    assert kmemleak.attributed(UNLOADED_LEAK, "unwind_leak", kernel_log.in_module_area, since) == []
    assert len(kmemleak.attributed(UNLOADED_LEAK, "unwind_leak", kernel_log.in_module_area, since - 1)) == 1
    # 7.x's report has the same clock, without the age beside it
    assert kmemleak.attributed(UNLOADED_LEAK_7X, "unwind_leak", kernel_log.in_module_area, 4294763009) == []


def test_the_earliest_reading_holds_so_a_leak_a_later_scan_finds_stays_the_subjects() -> None:
    # the slab sweep's failed loads leaked; a stale pointer hid it from its scan, the pages sweep's scan finds it
    slab = kmemleak.since(None, "jiffies 4294901200\n")
    pages = kmemleak.since(slab, "jiffies 4294901300\n")
    assert pages == 4294901200
    assert len(kmemleak.attributed(UNLOADED_LEAK, "unwind_leak", kernel_log.in_module_area, pages)) == 1
    # a rollback turned the clock back: the earlier reading is not kept over it
    assert kmemleak.since(pages, "jiffies 4294800000\n") == 4294800000


def test_a_script_that_could_not_read_the_clock_filters_nothing() -> None:
    assert kmemleak.since(None, "jiffies \nmode=load-nth\n") is None
    assert kmemleak.since(4294901200, "jiffies \n") == 4294901200
    assert len(kmemleak.attributed(UNLOADED_LEAK, "unwind_leak", kernel_log.in_module_area, None)) == 1


def test_kernel_addresses_are_not_a_modules() -> None:
    assert kernel_log.in_module_area(0xFFFFFFFF8142AB10) is None
    assert kmemleak.attributed(UNLOADED_LEAK[:4], "unwind_leak", kernel_log.in_module_area, None) == []


def _sweep_rules(sweep: Answer, report: str = "", normal: Answer | None = None) -> dict[str, Answer | list[Answer]]:
    rules: dict[str, Answer | list[Answer]] = {"grep -q": Answer(exit_status=1), "not-a-number": Answer(exit_status=1,
                                               stdout="Invalid parameters"), "fault-sweep.sh": sweep,
                                               "kmemleak": Answer(report)}  # fmt: skip
    if normal:
        rules["2>&1"] = normal
    return rules


SWEEP = "attempt 1 injected=1 result=errno 12: Cannot allocate memory\nattempt 2 injected=1 result=loaded\n" \
        "attempt 3 injected=0 result=loaded\ncomplete 3\n"  # fmt: skip


def test_a_module_whose_failed_loads_leak_fails_error_handling_with_kmemleaks_words(tmp_path: Path) -> None:
    verdict = run(ErrorHandling(), _sweep_rules(Answer(SWEEP), "\n".join(UNLOADED_LEAK)), tmp_path)
    assert verdict.status is Status.FAILED
    assert "fault injection: slab: kmemleak: 1 objects left behind by failed loads (allocated at 0xffffffffc0210021)" \
        in verdict.message  # fmt: skip
    assert UNLOADED_LEAK[0] in verdict.kernel_log


def test_an_object_left_before_a_sweep_began_is_not_said_to_be_its_own(tmp_path: Path) -> None:
    # the pages sweep began after the object was allocated: its scan found what the slab sweep's missed
    slab, pages = Answer(f"jiffies 4294901200\n{SWEEP}"), Answer(f"jiffies 4294901300\n{SWEEP}")
    rules = {"SITE=pages": pages, **_sweep_rules(slab)}
    rules["kmemleak"] = [Answer(""), Answer("\n".join(UNLOADED_LEAK))]
    verdict = run(ErrorHandling(), rules, tmp_path)
    assert verdict.message.endswith(
        "fault injection: pages: kmemleak: 1 objects the module left before this sweep began, found only by its scan "
        "(allocated at 0xffffffffc0210021)"
    )


def test_an_oops_during_the_sweep_fails_error_handling_with_it(tmp_path: Path) -> None:
    oopsed = Answer("attempt 1 injected=1 result=errno 12: Cannot allocate memory\n", exit_status=137, log=OOPS)
    verdict = run(ErrorHandling(), _sweep_rules(oopsed), tmp_path)
    assert verdict.status is Status.FAILED
    assert verdict.message.startswith(
        "load with the Nth slab allocation failing, N = 1, 2, ... logged a problem: BUG: unable to handle"
    )


def test_a_clean_sweep_is_reported_in_the_checks(tmp_path: Path) -> None:
    verdict = run(ErrorHandling(), _sweep_rules(Answer(SWEEP)), tmp_path)
    assert verdict.metrics["checks"]["fault injection"] == (
        "slab: 3 loads, allocation 1..2 of the load failing in turn: 1 failed cleanly, 1 loaded anyway; "
        "pages: 3 loads, allocation 1..2 of the load failing in turn: 1 failed cleanly, 1 loaded anyway"
    )


# A kernel that counts the whole load (6.1): the loader made one allocation more at attempt 3, so the sweep passed
# over the module's second allocation, and the helper tried N = 3 again.
RETRIED_SWEEP = "mode=load-nth\njiffies 4294901200\n" \
    "attempt 1 injected=1 own=0/0 result=errno 12: Cannot allocate memory\n" \
    "attempt 2 injected=1 own=1/1 result=errno 12: Cannot allocate memory\n" \
    "attempt 3 injected=1 own=0/2 result=loaded\nattempt 4 injected=0 own=0/2 result=loaded\n" \
    "attempt 3 injected=1 own=2/2 result=errno 12: Cannot allocate memory\ncomplete 4\n"  # fmt: skip


def test_a_sweep_that_tried_some_n_again_counts_its_loads_and_the_n_it_covered(tmp_path: Path) -> None:
    rules = {"SITE=pages": Answer(exit_status=3), **_sweep_rules(Answer(RETRIED_SWEEP))}
    verdict = run(ErrorHandling(), rules, tmp_path)
    assert verdict.metrics["checks"]["fault injection"] == (
        "slab: 5 loads, allocation 1..3 of the load failing in turn: 3 failed cleanly, 1 loaded anyway"
    )


def test_an_allocation_of_the_modules_no_load_failed_is_said(tmp_path: Path) -> None:
    passed_over = RETRIED_SWEEP.replace("own=2/2", "own=0/2").replace("complete 4", "unreached 2 of 2\ncomplete 4")
    rules = {"SITE=pages": Answer(exit_status=3), **_sweep_rules(Answer(passed_over))}
    verdict = run(ErrorHandling(), rules, tmp_path)
    assert verdict.metrics["checks"]["fault injection"].endswith(
        "1 loaded anyway; the module's own allocation 2 of 2 never failed"
    )


def test_each_sweep_says_how_this_kernel_could_fail_the_module_and_why_not(tmp_path: Path) -> None:
    unavailable = Answer("unavailable: this kernel cannot tell module code's page allocations from the loader's\n",
                         exit_status=3)  # fmt: skip
    rules = {"SITE=pages": unavailable, **_sweep_rules(Answer(f"mode=module-nth\n{SWEEP}"))}
    verdict = run(ErrorHandling(), rules, tmp_path)
    assert verdict.metrics["checks"]["fault injection"] == (
        "slab: 3 loads, the module's own allocation 1..2 failing in turn: 1 failed cleanly, 1 loaded anyway; "
        "pages: not swept (this kernel cannot tell module code's page allocations from the loader's)"
    )


def test_page_allocations_are_failed_in_a_sweep_of_their_own(tmp_path: Path) -> None:
    oopsed = Answer("attempt 1 injected=1 result=errno 12: Cannot allocate memory\n", exit_status=137, log=OOPS)
    rules = {"SITE=pages": oopsed, **_sweep_rules(Answer(SWEEP))}  # the first rule that matches answers
    verdict = run(ErrorHandling(), rules, tmp_path)
    assert verdict.message.startswith(
        "load with the Nth page allocation failing, N = 1, 2, ... logged a problem: BUG: unable to handle"
    )


def test_a_kernel_that_cannot_fail_page_allocations_gets_the_slab_sweep_alone(tmp_path: Path) -> None:
    rules = {"SITE=pages": Answer(exit_status=3), **_sweep_rules(Answer(SWEEP))}
    verdict = run(ErrorHandling(), rules, tmp_path)
    assert verdict.metrics["checks"]["fault injection"].startswith("slab: 3 loads")
    assert "pages" not in verdict.metrics["checks"]["fault injection"]


def test_without_fault_injection_the_sweep_is_left_out(tmp_path: Path) -> None:
    verdict = run(ErrorHandling(), _sweep_rules(Answer(exit_status=3)), tmp_path)
    assert "fault injection" not in verdict.metrics["checks"]


def test_a_slab_report_about_an_unloaded_module_is_blamed_on_it_by_address(tmp_path: Path) -> None:
    from tests.unit.test_kernel_module_cases import RELEASE
    from toolkit.domains import options
    from toolkit.domains.guest import Guest
    from toolkit.domains.module.build import BuildOutcome, BuiltModule
    from toolkit.domains.module.subject import ModuleUnderTest

    module = BuiltModule("mod", tmp_path / "mod.ko", 1, RELEASE, "A", {}, {}, ())
    chosen = options.parse(ModuleOptions, {"module_dir": tmp_path})
    subject = ModuleUnderTest(Guest(None), chosen, BuildOutcome("chroot", 0, 1.0, "", (module,)), module, RELEASE,
                              tmp_path)  # type: ignore[arg-type]  # fmt: skip
    report = ["BUG kmalloc-64 (Tainted: G OE): Poison overwritten",
              "Freed in 0xffffffffc0a1b021 age=26 cpu=0 pid=201",
              "Allocated in __kmalloc+0x4a/0x90 age=30 cpu=0 pid=201"]  # fmt: skip
    assert subject.blame(report) == (
        " (the report points into unloaded module code, mod's: Freed in 0xffffffffc0a1b021 age=26 cpu=0 pid=201)"
    )
    assert subject.blame(report[:1] + report[2:]) == ""


def test_outdated_kernel_builds_are_removed_but_not_current_or_running_ones(tmp_path: Path) -> None:
    from toolkit.files import locked

    current = KernelBuild(kernels.select("6.1-debug"), "6.1.176-1")
    kept = kernel_build.output_dir(tmp_path, current)
    older_config = kept.with_name("0123456789ab")
    for folder in (
        kept,
        older_config,
        tmp_path / "kernels/6.1-debug-old/root",
        tmp_path / "kernels/6.1-debug-building",
    ):
        folder.mkdir(parents=True)
    with locked(tmp_path / "kernels" / "6.1-debug-building" / ".lock"):
        removed = kernel_build.remove_except(tmp_path, {current})
    assert removed == [older_config, tmp_path / "kernels/6.1-debug-old"]
    assert sorted(p.name for p in (tmp_path / "kernels").iterdir()) == sorted(["6.1-debug-building", current.name])
    assert kept.is_dir()


def test_a_changed_fragment_is_built_in_the_same_tree_and_kept_apart(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:  # fmt: skip
    before = KernelBuild(kernels.select("6.1-debug"), "6.1.176-1")
    tree, output = before.name, kernel_build.output_dir(tmp_path, before)
    (tmp_path / "debug.config").write_text((kernel_config.CONFIGS / "debug.config").read_text() + "CONFIG_KCSAN=y\n")
    (tmp_path / "guest.config").write_text((kernel_config.CONFIGS / "guest.config").read_text())
    monkeypatch.setattr(kernel_config, "CONFIGS", tmp_path)
    assert before.name == tree and kernel_build.output_dir(tmp_path, before) != output
    assert kernel_build.output_dir(tmp_path, before).parent == output.parent


@pytest.mark.parametrize(
    ("config", "pvh"),
    [("CONFIG_PVH=y\n", True), ("CONFIG_PVH=y\nCONFIG_KASAN=y\n", False), ("# CONFIG_PVH is not set\n", False)],
)
def test_a_kernel_starts_at_its_pvh_entry_only_without_kasan(tmp_path: Path, config: str, pvh: bool) -> None:
    from toolkit.boxes import vmlinux

    (tmp_path / "config").write_text(config)
    assert vmlinux.has_pvh_entry(tmp_path / "config") is pvh


@pytest.mark.parametrize(
    ("config", "kfence"),
    [
        ("CONFIG_KFENCE=y\n", True),
        ("CONFIG_KFENCE=y\nCONFIG_KASAN=y\n", False),
        ("# CONFIG_KFENCE is not set\n", False),
    ],
)
def test_lite_adds_slab_debugging_and_kfence_only_where_kasan_does_not_see_everything(
    tmp_path: Path, config: str, kfence: bool
) -> None:
    from toolkit import debug_tiers

    (tmp_path / "config").write_text(config)
    args = debug_tiers.select("lite").kernel_args(tmp_path / "config")
    assert args[:2] == ([] if "KASAN" in config else ["slub_debug=FZPU", "page_poison=1"])
    assert any(arg.startswith("kfence.sample_interval=") for arg in args) is kfence


def test_a_kernel_with_kmemleak_boots_with_slubs_per_cpu_arrays_off_in_every_tier(tmp_path: Path) -> None:
    from toolkit import debug_tiers

    (tmp_path / "config").write_text("CONFIG_KASAN=y\nCONFIG_DEBUG_KMEMLEAK=y\nCONFIG_PROVE_RCU=y\n")
    assert debug_tiers.select("lite").kernel_args(tmp_path / "config") == ["slub_debug=U", "preempt=full"]
    assert debug_tiers.select("off").kernel_args(tmp_path / "config") == ["slub_debug=U", "preempt=full"]
    (tmp_path / "config").write_text("CONFIG_DEBUG_KMEMLEAK=y\n")  # lite's own slab debugging turns them off
    assert debug_tiers.select("lite").kernel_args(tmp_path / "config") == ["slub_debug=FZPU", "page_poison=1"]
    assert debug_tiers.select("off").kernel_args(tmp_path / "config") == ["slub_debug=U"]
    (tmp_path / "config").write_text("CONFIG_KASAN=y\n")
    assert debug_tiers.select("off").kernel_args(tmp_path / "config") == []


def test_a_kernel_proving_rcu_boots_fully_preemptible_in_every_tier(tmp_path: Path) -> None:
    from toolkit import debug_tiers

    (tmp_path / "config").write_text("CONFIG_KASAN=y\nCONFIG_PROVE_RCU=y\n")
    assert debug_tiers.select("lite").kernel_args(tmp_path / "config") == ["preempt=full"]
    assert debug_tiers.select("off").kernel_args(tmp_path / "config") == ["preempt=full"]
    (tmp_path / "config").write_text("CONFIG_KFENCE=y\n")
    assert "preempt=full" not in debug_tiers.select("lite").kernel_args(tmp_path / "config")
