"""Stable titles of kernel reports, in the manner of syzkaller's: what went wrong, and in which function.

A title is made from the kernel's own lines by one table: for each kind of report, the patterns its
lines may show (6.1's and 7.x's wording) and the title each one makes. The function is the first
frame of the report (its own line, then its RIP, then its call trace) that is not the kernel's
reporting, scheduling, locking, delay or allocation machinery. Addresses, offsets, pids, CPU
numbers, taint flags, file:line and timestamps never appear in a title: the same fault has the
same title on every build and every run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# A frame as reports print it: in a call trace (`foo+0x1c/0x30 [m]`, kmemleak's `[<ffff...>] foo+0x..`),
# on a kernel RIP line (`RIP: 0010:foo+0x..`); `? foo` frames are guesses and are left out. A bare address
# (`0xffffffffc0338059`) is a frame the kernel could not name: a module's init code, freed once it ran.
FRAME = re.compile(
    r"^\s*(?:RIP: 0010:|\[<[0-9a-f]+>\]\s*)?(?:([A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+|0x[0-9a-f]+\s*$)"
)

# The kernel's own machinery, never where a fault is: frames a title skips.
MACHINERY = re.compile(
    r"^(?:"
    r"__sanitizer_\w+|__asan_\w+|_*kasan_\w+|_*kfence_\w+|kmsan_\w+|_*ubsan_\w+|print_report|print_address_\w+|"
    r"dump_stack\w*|show_stack\w*|check_\w+|__warn\w*|warn_\w+|report_bug|handle_bug|_*exc_\w+|asm_\w+|"
    r"do_error_trap|do_trap|die|__die\w*|oops_begin|oops_end|panic|__list_\w+|list_\w+_report|"
    r"_*schedule\w*|preempt_schedule\w*|io_schedule\w*|_*wait_for_\w+|__wait_\w+|wait_on_\w+|"
    r"_*mutex_lock\w*|__mutex_\w+|_*down(?:_\w+)?|rwsem_\w+|_*raw_spin_\w+|_*raw_read_\w+|_*raw_write_\w+|"
    r"do_raw_\w+|queued_\w+|native_queued_\w+|_*lock_acquire\w*|lock_release|__lock_\w+|lockdep_\w+|"
    r"msleep\w*|usleep\w*|_*[umn]?delay|delay_tsc|delay_loop|_*const_udelay|"
    r"_*kmalloc\w*|_*kvmalloc\w*|_*kzalloc\w*|_*krealloc\w*|_*kmem_cache_\w+|_*slab_\w+|_*kfree\w*|kmemleak_\w+|"
    r"_*alloc_pages\w*|object_err|print_trailer|free_debug_processing|free_to_partial_list|on_freelist|"
    r"_*might_\w+|_*memcpy\w*|_*memset\w*|_*memmove\w*|_*copy_\w+_user\w*"
    r")$"
)


@dataclass(frozen=True)
class Titling:
    """One wording a kind of report may have, and the title it makes: `{frame}` is the function it happened
    in, other fields are the pattern's named groups; the group `at` names the function the kernel's own line
    gives."""

    kind: str
    pattern: re.Pattern[str]
    title: str


TITLINGS: tuple[Titling, ...] = tuple(
    Titling(kind, re.compile(pattern, re.MULTILINE), title)
    for kind, pattern, title in (
        ("kasan", r"BUG: KASAN: (?P<what>[\w-]+) in (?P<at>[\w.]+)[^\n]*\n(?:.*\n)*?(?P<access>Read|Write) of size",
         "KASAN: {what} {access} in {frame}"),
        ("kasan", r"BUG: KASAN: (?P<what>[\w-]+) in (?P<at>[\w.]+)", "KASAN: {what} in {frame}"),
        ("kfence", r"BUG: KFENCE: (?P<what>[a-z][a-z -]*?) in (?P<at>[\w.]+)", "KFENCE: {what} in {frame}"),
        ("slab_corruption", r"^\[(?P<what>[A-Z][\w ]+)\][^\n]*\n(?:.*\n)*?BUG (?P<cache>[\w.:-]+) \(",
         "SLUB: {what} in {cache}"),
        ("slab_corruption", r"^BUG (?P<cache>[\w.:-]+) \(.*?\): (?P<what>[^.\n]+)", "SLUB: {what} in {cache}"),
        ("slab_corruption", r"(?P<what>Freepointer corrupt|Object already free|Poison overwritten|Redzone overwritten)",
         "SLUB: {what}"),
        ("kmemleak", r"^unreferenced object", "memory leak in {frame}"),
        ("kmemleak", r"kmemleak: \d+ new suspected", "memory leak"),
        ("ubsan", r"UBSAN: (?P<what>[\w-]+)", "UBSAN: {what} in {frame}"),
        ("soft_lockup", r"soft lockup", "BUG: soft lockup in {frame}"),
        ("hard_lockup", r"hard LOCKUP", "BUG: hard lockup in {frame}"),
        ("rcu_stall", r"detected stall", "INFO: rcu detected stall in {frame}"),
        ("hung_task", r"INFO: task .+ blocked for more than", "INFO: task hung in {frame}"),
        ("lockdep", r"possible (?:circular|recursive) locking|possible irq lock inversion", "possible deadlock in {frame}"),
        ("lockdep", r"(?:WARNING|BUG): (?P<what>inconsistent lock state|bad unlock balance|held lock freed|"
         r"lock held when returning to user space)", "{what} in {frame}"),
        ("atomic_sleep", r"BUG: (?P<what>sleeping function called from invalid context|scheduling while atomic)",
         "BUG: {what} in {frame}"),
        ("list_corruption", r"(?P<what>list_\w+ corruption)", "{what} in {frame}"),
        ("gpf", r"general protection fault", "general protection fault in {frame}"),
        ("oops", r"NULL pointer dereference", "BUG: unable to handle kernel NULL pointer dereference in {frame}"),
        ("oops", r"BUG: unable to handle (?:page fault|kernel paging request)",
         "BUG: unable to handle kernel paging request in {frame}"),
        ("oops", r"Oops", "Oops in {frame}"),
        ("bug", r"kernel BUG at ", "kernel BUG in {frame}"),
        ("bug", r"BUG: (?P<what>[A-Za-z][A-Za-z -]*[A-Za-z])", "BUG: {what} in {frame}"),
        ("warning", r"WARNING: CPU: \d+ PID: \d+ at \S+ (?P<at>[\w.]+)\+", "WARNING in {frame}"),
        ("warning", r"WARNING: \S+ at (?P<at>[\w.]+)\+", "WARNING in {frame}"),
        ("warning", r"WARNING", "WARNING in {frame}"),
        ("panic", r"Kernel panic - not syncing: (?P<what>[A-Za-z][\w -]*)", "kernel panic: {what}"),
    )
)  # fmt: skip


def function(name: str) -> str:
    """A frame's function without the compiler's suffixes (`.cold`, `.isra.0`, `.constprop.0`)."""
    return name.split(".")[0]


def frame(lines: Sequence[str], own: str | None = None) -> str | None:
    """The first function of the report that is not the kernel's machinery: own (the one its first line
    names), then each frame of its RIP and call trace; none when that frame has no name (its caller, the
    module loader, is not where the fault is)."""
    frames = [own] if own else []
    frames += [found.group(1) for found in map(FRAME.match, lines) if found]
    names = (function(name) if name else None for name in frames)
    return next((name for name in names if name is None or not MACHINERY.match(name)), None)


def title(kind: str, lines: Sequence[str]) -> str:
    """The title of a report of kind, from its lines (timestamps stripped); its first line when no wording of the
    table fits."""
    text = "\n".join(lines) + "\n"
    for titling in (titling for titling in TITLINGS if titling.kind == kind):
        found = titling.pattern.search(text)
        if found is None:
            continue
        fields = {key: value for key, value in found.groupdict().items() if value}
        if "cache" in fields and "what" in fields:  # up to 6.x SLUB names the cache in its words too
            fields["what"] = fields["what"].replace(f" in {fields['cache']}", "")
        where = frame(lines, fields.pop("at", None))
        if where is None:
            return titling.title.replace(" in {frame}", "").format(**fields)
        return titling.title.format(frame=where, **fields)
    return lines[0].strip() if lines else kind


def leak(site: str) -> str:
    """The title of a leak allocated at site (`leaky_init+0x21`, as leaks.py and kmemleak.py name one); no
    function when the site is none (an address, a section of a module without symbols)."""
    name = function(site.split("+")[0].strip())
    return f"memory leak in {name}" if re.fullmatch(r"[A-Za-z_]\w*", name) else "memory leak"
