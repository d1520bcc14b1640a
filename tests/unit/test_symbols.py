"""Places in a module's source for the addresses of real kernel reports and traces of the fixture modules.

The symbols and section sizes are those of the fixture modules' .ko files as built for 6.1 (their ELF headers);
the addr2line answers (fixtures/addr2line/) are the box's addr2line run on those .ko files.
"""

from __future__ import annotations

import gzip
import shlex
import shutil
from pathlib import Path

import pytest

from toolkit import kernel_log
from toolkit.domains.base import Verdict
from toolkit.domains.guest import problem_verdict
from toolkit.domains.module import addr2line, elf, symbols
from toolkit.domains.module.leaks import CodeRange, attribute, unfreed
from toolkit.domains.module.subject import loaded_sections

FIXTURES = Path(__file__).parent / "fixtures"

LEAKY = symbols.ModuleCode(
    "leaky", (elf.Symbol("leaky_init", ".init.text", 0, 45), elf.Symbol("init_module", ".init.text", 0, 45)),
    {".init.text": 45}, {".init.text": 0xFFFFFFFFC023A000},
)  # fmt: skip
DOUBLE_FREE = symbols.ModuleCode(
    "double_free",
    (elf.Symbol("double_free_init", ".init.text", 0, 48), elf.Symbol("double_free_exit", ".exit.text", 0, 29)),
    {".exit.text": 29, ".init.text": 48}, {".init.text": 0xFFFFFFFFC0237000},
)  # fmt: skip
OOPS_EXIT = symbols.ModuleCode(
    "oops_exit",
    (elf.Symbol("oops_exit_init", ".init.text", 0, 12), elf.Symbol("oops_exit_exit", ".exit.text", 0, 21)),
    {".exit.text": 21, ".init.text": 12}, {},
)  # fmt: skip

PROCWRITE = symbols.ModuleCode(
    "procwrite",
    (elf.Symbol("label_read", ".text", 0, 73), elf.Symbol("label_write", ".text", 80, 153),
     elf.Symbol("procwrite_init", ".init.text", 0, 98)),
    {".text": 233, ".init.text": 98}, {},
)  # fmt: skip


def _places(fixture: str, sources: str) -> dict[tuple[str, int], str]:
    chains = addr2line.parse((FIXTURES / "addr2line" / f"{fixture}.txt").read_text())
    return {spot: place for spot, chain in chains.items() if (place := symbols.shown(chain, sources))}


def _report(name: str, what: str) -> Verdict:
    return problem_verdict(
        what, kernel_log.classify((FIXTURES / "kernel_logs" / f"{name}.log").read_text().splitlines())
    )


def test_addr2line_answers_are_read_as_chains_innermost_first_and_unknown_frames_dropped() -> None:
    chains = addr2line.parse((FIXTURES / "addr2line" / "leaky.txt").read_text())
    source = "/mnt/vexfs-vmtest-leaky-640bb453a08e/leaky.c"
    assert chains[(".init.text", 0x20)] == (
        addr2line.SourceLine("kmalloc", "/usr/src/linux-headers-6.1.0-50-common/include/linux/slab.h", 563),
        addr2line.SourceLine("leaky_init", source, 13),
    )
    assert chains[(".init.text", 0x500)] == ()


def test_an_inlined_kernel_helper_is_passed_over_for_the_modules_own_line_relative_to_its_sources() -> None:
    places = _places("leaky", "/mnt/vexfs-vmtest-leaky-640bb453a08e")
    assert places == {(".init.text", 0x20): "leaky.c:13 (leaky_init)"}
    assert _places("leaky", "/elsewhere") == {
        (".init.text", 0x20): "/usr/src/linux-headers-6.1.0-50-common/include/linux/slab.h:563 (kmalloc)"
    }


def test_the_faulting_frame_is_looked_up_as_it_is_and_return_addresses_one_byte_back() -> None:
    rip = OOPS_EXIT.mentions("[  192.738848] RIP: 0010:oops_exit_exit+0xe/0x1000 [oops_exit]")
    freed = DOUBLE_FREE.mentions("Freed in double_free_exit+0x14/0x1000 [double_free] age=0 cpu=1 pid=255")
    assert [mention.spot for mention in rip] == [symbols.Spot(".exit.text", 0xE)]
    assert [mention.spot for mention in freed] == [symbols.Spot(".exit.text", 0x13)]


def test_frames_of_other_modules_of_the_kernel_and_data_addresses_are_not_the_modules() -> None:
    assert LEAKY.mentions(" leaky_init+0x21/0x2d [other]") == []
    assert LEAKY.mentions(" do_one_initcall+0x56/0x220") == []
    assert LEAKY.mentions("Write of size 4 at addr ffff888006cb3bc0 by task insmod/217") == []
    assert LEAKY.mentions("RBX: ffffffffc023a021 RCX: 0000000000000001") == []  # a register, not a frame
    assert LEAKY.mentions("Code: Unable to access opcode bytes at 0xffffffffc023a010.") == []
    assert LEAKY.mentions(" 0xffffffffc0100000") == []  # module area, not where leaky's code was


def test_a_bare_address_left_by_an_unloaded_module_is_placed_by_its_recorded_sections() -> None:
    verdict = _report("slab_double_free", "rmmod logged a problem")
    places = _places("double_free", "/mnt/vexfs-vmtest-double_free-c39e0a5d41a6")
    assert symbols.spots(DOUBLE_FREE, verdict.message, verdict.kernel_log) == {
        ".init.text": [0x1A],
        ".exit.text": [0x13],
    }
    located = symbols.located(verdict, DOUBLE_FREE, places)
    log = "\n".join(located.kernel_log_symbolized)
    assert "Allocated in 0xffffffffc023701b double_free.c:10 (double_free_init) age=1480" in log
    assert "Freed in double_free_exit+0x14/0x1000 [double_free] double_free.c:18 (double_free_exit) age=0" in log
    assert located.kernel_log == verdict.kernel_log and len(located.kernel_log_symbolized) == len(verdict.kernel_log)
    # a slab cache's report names no function of the module: its message is left as it was
    assert located.message == verdict.message and located.report_titles == verdict.report_titles


def test_a_report_titled_with_the_modules_function_says_where_it_happened_and_keeps_its_title() -> None:
    verdict = _report("oops", "rmmod logged a problem")
    located = symbols.located(verdict, OOPS_EXIT, _places("oops_exit", "/mnt/vexfs-vmtest-oops_exit-5f2e8585f0a0"))
    title = "BUG: unable to handle kernel NULL pointer dereference in oops_exit_exit"
    assert located.message == f"rmmod logged a problem: {title} at oops_exit.c:18"
    assert located.report_titles == (title,)
    assert "RIP: 0010:oops_exit_exit+0xe/0x1000 [oops_exit] oops_exit.c:18 (oops_exit_exit)" in "\n".join(
        located.kernel_log_symbolized
    )


@pytest.mark.parametrize(
    ("log", "title", "called_from"),
    [("warning_copy_overflow_6.1", "WARNING in __copy_overflow", "procwrite.c:24 (label_write)"),
     ("slab_double_free_race_6.1", "SLUB: Object already free in kmalloc-32", "procwrite.c:28 (label_write)")],
)  # fmt: skip
def test_a_report_titled_by_the_kernels_own_function_says_where_the_module_called_it_from(
    log: str, title: str, called_from: str
) -> None:
    """The first of the module's frames in the call trace, stale `? ` frames passed over: the copy_from_user of a
    write handler that never checks its length, the kfree of two writers racing without a lock (not where the
    object was allocated, which the slab report names first)."""
    verdict = _report(log, "exercising /proc/procwrite_label logged a problem")
    assert verdict.report_titles[0] == title
    located = symbols.located(verdict, PROCWRITE, _places("procwrite", "/mnt/vexfs-vmtest-procwrite-0cc36e0d9868"))
    assert located.message.startswith(f"exercising /proc/procwrite_label logged a problem: {title} called from "
                                      f"{called_from}")  # fmt: skip


def test_a_leaks_call_site_in_its_message_becomes_its_place_whether_named_or_bare_in_the_trace() -> None:
    trace = gzip.decompress((FIXTURES / "traces" / "leaky.trace.gz").read_bytes()).decode()
    [leak] = attribute(unfreed(trace), "leaky", [CodeRange(".init.text", 0xFFFFFFFFC023A000, 45)], list(LEAKY.symbols))
    message = f"leaked 4 objects, 256 bytes: {leak.call_site}: 4 x, 256 bytes"
    verdict = Verdict.failed(message, leak.trace_lines, report_titles=("memory leak in leaky_init",))
    located = symbols.located(verdict, LEAKY, _places("leaky", "/mnt/vexfs-vmtest-leaky-640bb453a08e"))
    assert located.message == "leaked 4 objects, 256 bytes: leaky.c:13 (leaky_init): 4 x, 256 bytes"
    assert all("call_site=0xffffffffc023a021 leaky.c:13 (leaky_init) ptr=" in line
               for line in located.kernel_log_symbolized)  # fmt: skip


def test_kmemleaks_address_and_frame_of_one_place_are_followed_by_it_once() -> None:
    places = _places("leaky", "/mnt/vexfs-vmtest-leaky-640bb453a08e")
    loaded = "    [<ffffffffc023a021>] leaky_init+0x21/0x2d [leaky]"
    unloaded = "    [<ffffffffc023a021>] 0xffffffffc023a021"
    assert symbols.annotated(loaded, LEAKY, places) == f"{loaded} leaky.c:13 (leaky_init)"
    assert symbols.annotated(unloaded, LEAKY, places) == f"{unloaded} leaky.c:13 (leaky_init)"


def test_named_kernel_frames_where_modules_may_be_mapped_are_not_bare_addresses_of_an_unknown_load() -> None:
    # 6.1-debug's kmemleak (KASLR put the kernel's code at 0xffffffffb3...), the module still loaded
    report = [
        "    [<ffffffffb3e89e75>] __kmalloc_node_track_caller+0x45/0xf0",
        "    [<ffffffffb3e71c2d>] kstrdup+0x2d/0x60",
        "    [<ffffffffc023a021>] 0xffffffffc023a021",
        "    [<ffffffffb3a01e90>] do_one_initcall+0xc0/0x340",
    ]
    assert symbols.unplaced(LEAKY, report) == set()
    assert symbols.unplaced(LEAKY, ["    [<ffffffffc0100021>] 0xffffffffc0100021"]) == {"ffffffffc0100021"}


def test_a_verdict_without_the_modules_addresses_is_left_alone_without_running_anything(tmp_path: Path) -> None:
    verdict = Verdict.failed("insmod failed: Cannot allocate memory (ENOMEM)", ["init_fail: refusing to load"])
    assert symbols.symbolized(verdict, LEAKY, tmp_path / "leaky.ko", True, "", tmp_path) == verdict


def test_a_module_built_without_debug_info_says_its_places_are_unknown(tmp_path: Path) -> None:
    verdict = _report("oops", "rmmod logged a problem")
    said = symbols.symbolized(verdict, OOPS_EXIT, tmp_path / "oops_exit.ko", False, "", None)
    assert said.message == f"{verdict.message} (file:line unknown: oops_exit.ko carries no debug info)"
    assert said.kernel_log_symbolized == ()


@pytest.mark.skipif(shutil.which("addr2line") is None, reason="the host has no addr2line (binutils)")
def test_addr2line_failing_on_the_ko_is_said_in_the_message_with_its_words(tmp_path: Path) -> None:
    ko = tmp_path / "oops_exit.ko"
    ko.write_text("not an ELF file\n")
    said = symbols.symbolized(_report("oops", "rmmod logged a problem"), OOPS_EXIT, ko, True, "", None)
    assert "(file:line unknown: addr2line exited 1: " in said.message and said.kernel_log_symbolized == ()


@pytest.mark.parametrize(
    ("said", "found"),
    [
        (".text:0xffffffffc0210000 .init.text:0xffffffffc0214000", {".text": 0xFFFFFFFFC0210000,
                                                                    ".init.text": 0xFFFFFFFFC0214000}),
        ("", {}),
        (".text: .exit.text:0xnothex ../x:0x10 'q':0x1", {}),
        (".text:0x" + "f" * 400 + " .text.unlikely:0xffffffffc0213000", {".text.unlikely": 0xFFFFFFFFC0213000}),
    ],
)  # fmt: skip
def test_probed_section_addresses_keep_only_names_with_addresses(said: str, found: dict[str, int]) -> None:
    assert loaded_sections(said) == found


def test_the_addr2line_command_passes_the_ko_and_sections_literally_one_call_per_section() -> None:
    command = addr2line.script("/tmp/my dir/it's.ko", {".text; rm -rf /": [0x1F, 0x20], ".init.text": [0]})
    words = shlex.split(command)
    assert words.count("addr2line") == 2 and words.count("/tmp/my dir/it's.ko") == 2
    assert ".text; rm -rf /" in words and words[-2:] == ["0x1f", "0x20"]
