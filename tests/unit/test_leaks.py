"""Pairing allocations with frees in a real kmem trace recorded around the leaky fixture module."""

import gzip
from pathlib import Path

from toolkit.domains.module import elf
from toolkit.domains.module.leaks import CodeRange, attribute, unfreed

TRACE = Path(__file__).parent / "fixtures" / "traces" / "leaky.trace.gz"
# Where the leaky module's .init.text was loaded in that run (/sys/module/leaky/sections/.init.text),
# its size and its symbol, as its .ko's ELF headers gave them.
INIT_TEXT = CodeRange(".init.text", 0xFFFFFFFFC023A000, 45)
SYMBOLS = [elf.Symbol("leaky_init", ".init.text", 0, 45)]


def _trace() -> str:
    return gzip.decompress(TRACE.read_bytes()).decode()


def test_leaky_init_leaks_four_64_byte_objects_at_one_call_site() -> None:
    leaks = attribute(unfreed(_trace()), "leaky", [INIT_TEXT], SYMBOLS)
    assert [(leak.call_site, leak.count, leak.bytes) for leak in leaks] == [("leaky_init+0x21", 4, 256)]
    assert all("kmalloc: call_site=0xffffffffc023a021" in line for line in leaks[0].trace_lines)


def test_allocations_outside_the_module_are_not_its_leaks() -> None:
    elsewhere = CodeRange(".text", 0xFFFFFFFFC0100000, 4096)
    assert attribute(unfreed(_trace()), "leaky", [elsewhere], SYMBOLS) == []


def test_freed_allocations_are_paired_away() -> None:
    trace = (
        "  insmod-1 [000] ..... 1.0: kmalloc: call_site=0xffffffffc0001010 ptr=00000000aaaa bytes_req=8 bytes_alloc=8 gfp_flags=GFP_KERNEL\n"
        "  rmmod-2 [001] ..... 2.0: kfree: call_site=0xffffffffc0001080 ptr=00000000aaaa\n"
        "  insmod-1 [000] ..... 1.5: kmem_cache_alloc: call_site=0xffffffffc0001020 ptr=00000000bbbb bytes_req=32 bytes_alloc=32 gfp_flags=GFP_KERNEL\n"
    )
    left = unfreed(trace)
    assert [(a.ptr, a.bytes) for a in left] == [("00000000bbbb", 32)]
    leaks = attribute(
        left, "m", [CodeRange(".text", 0xFFFFFFFFC0001000, 0x100)], [elf.Symbol("m_open", ".text", 0x10, 0x40)]
    )
    assert [(leak.call_site, leak.count) for leak in leaks] == [("m_open+0x10", 1)]


def test_call_sites_still_symbolized_with_the_module_name_count_the_bytes_asked_for() -> None:
    trace = "  t-1 [000] ..... 1.0: kmalloc: call_site=m_init+0x1e/0x40 [m] ptr=0000000000cc bytes_req=8 bytes_alloc=16 gfp_flags=GFP_KERNEL\n"
    assert [(leak.call_site, leak.bytes) for leak in attribute(unfreed(trace), "m", [], [])] == [("m_init+0x1e", 8)]
