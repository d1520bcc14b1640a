"""Kernel messages as data: which lines report a problem, of what kind, with what excerpt and title.

One table of patterns, most specific first. A report's excerpt runs from its first line
through its call trace (to `---[ end trace` where the kernel prints one). Lines may carry
dmesg/console timestamps; they are kept in excerpts and ignored when matching.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from toolkit import report_titles

TIMESTAMP = re.compile(r"^\s*(<\d+>)?\[\s*\d+\.\d+\]\s?")
END_OF_REPORT = re.compile(r"---\[ end (trace|Kernel panic)")
# Lines that go on the report before them: 7.x's `Oops: Oops: 0000 [#1]` after `BUG: kernel NULL pointer ...`,
# and its `BUG <cache> (...): Object corrupt` after the `[Poison overwritten] ...` that says what
CONTINUATION = re.compile(r"^Oops: |^BUG [\w.:-]+ \(.*\): Object corrupt")
EXCERPT_LIMIT = 60
# x86_64 module mapping space (MODULES_VADDR..MODULES_END, with or without KASLR's larger kernel image)
MODULE_AREA = (0xFFFFFFFFA0000000, 0xFFFFFFFFFF000000)
BARE_ADDRESS = re.compile(r"(?<![\w<])0x([0-9a-f]{16})\b")


@dataclass(frozen=True)
class Kind:
    """One kind of problem and the line that starts its report."""

    name: str
    pattern: re.Pattern[str]


KINDS: tuple[Kind, ...] = tuple(
    Kind(name, re.compile(pattern))
    for name, pattern in (
        ("kasan", r"BUG: KASAN: "),
        ("kfence", r"BUG: KFENCE: "),
        (
            "slab_corruption",
            r"^BUG [\w.:-]+ \(.*\): |^(INFO: )?Freepointer corrupt|Object already free|Poison overwritten|Redzone overwritten",
        ),
        ("kmemleak", r"kmemleak: \d+ new suspected memory leaks|^unreferenced object 0x"),
        ("ubsan", r"UBSAN: "),
        ("soft_lockup", r"watchdog: BUG: soft lockup|BUG: soft lockup"),
        ("hard_lockup", r"Watchdog detected hard LOCKUP"),
        ("rcu_stall", r"rcu: INFO: rcu_\w+ (self-)?detected stall|rcu_\w+ self-detected stall"),
        ("hung_task", r"INFO: task .+ blocked for more than \d+ seconds"),
        (
            "lockdep",
            r"WARNING: possible (circular|recursive) locking|INFO: possible recursive locking|WARNING: inconsistent "
            r"lock state|WARNING: possible irq lock inversion|WARNING: bad unlock balance|BUG: held lock freed|"
            r"WARNING: lock held when returning to user space|WARNING: held lock freed",
        ),
        ("atomic_sleep", r"BUG: sleeping function called from invalid context|BUG: scheduling while atomic"),
        ("list_corruption", r"list_(add|del) corruption"),
        ("gpf", r"general protection fault"),
        ("oops", r"BUG: kernel NULL pointer dereference|BUG: unable to handle|Oops: |^Internal error: Oops"),
        ("bug", r"kernel BUG at |BUG: "),
        (
            "warning",
            r"WARNING: CPU: \d+ PID: \d+ at |WARNING: \S+ at \S+, CPU#\d+: |------------\[ cut here \]------------",
        ),
        ("panic", r"Kernel panic - not syncing"),
    )
)


@dataclass(frozen=True)
class Problem:
    """One problem report: its kind, the kernel's line that starts it, the excerpt around it, and its stable
    title (report_titles.py: `KASAN: slab-use-after-free Write in mydev_open`)."""

    kind: str
    line: str
    excerpt: tuple[str, ...]
    title: str


def strip_timestamp(line: str) -> str:
    return TIMESTAMP.sub("", line.rstrip("\n"))


def kind_of(line: str) -> str | None:
    text = strip_timestamp(line)
    for kind in KINDS:
        if kind.pattern.search(text):
            return kind.name
    return None


def _starts_report(line: str) -> bool:
    text = strip_timestamp(line)
    return kind_of(line) is not None and not text.startswith(" ") and not CONTINUATION.match(text)


def _window_end(lines: list[str], start: int) -> int:
    """Where the report at start may reach: EXCERPT_LIMIT lines, or the next report the kernel starts once this
    one has printed its call trace (a `cut here` after it is a new WARNING, not this report's own)."""
    end = min(len(lines), start + EXCERPT_LIMIT)
    traced = False
    for index in range(start + 1, end):
        if traced and _starts_report(lines[index]):
            return index
        traced = traced or strip_timestamp(lines[index]).startswith("Call Trace:")
    return end


def _excerpt(lines: list[str], start: int) -> tuple[str, ...]:
    """From the report's first line through the end of its trace (or a bounded window)."""
    end = _window_end(lines, start)
    for index in range(start + 1, end):
        if END_OF_REPORT.search(lines[index]):
            return tuple(lines[start : index + 1])
    for index in range(start + 1, end):
        if kind_of(lines[index]) != "warning" and _starts_report(lines[index]):
            return tuple(lines[start:index])
    return tuple(lines[start:end])


def classify(lines: Iterable[str]) -> list[Problem]:
    """Every problem reported in lines; a `cut here` line and the WARNING after it are one report."""
    lines = [line.rstrip("\n") for line in lines]
    problems: list[Problem] = []
    covered = -1
    for index, line in enumerate(lines):
        kind = kind_of(line)
        if kind is None or index <= covered:
            continue
        start = index
        if "cut here" in line and index + 1 < len(lines) and kind_of(lines[index + 1]):
            kind = kind_of(lines[index + 1]) or kind
            index += 1
        excerpt = _excerpt(lines, start)
        covered = start + len(excerpt) - 1
        title = report_titles.title(kind, [strip_timestamp(text) for text in excerpt])
        problems.append(Problem(kind, strip_timestamp(lines[index]).strip(), excerpt, title))
    return problems


def titles(problems: Iterable[Problem]) -> tuple[str, ...]:
    """The titles of problems, each once, in the order the kernel reported them."""
    return tuple(dict.fromkeys(problem.title for problem in problems))


def in_module_area(address: int) -> str | None:
    """The address as text when it lies where modules are mapped (code of a module, maybe one since unloaded)."""
    return f"{address:#x}" if MODULE_AREA[0] <= address < MODULE_AREA[1] else None


def module_addresses(line: str) -> list[str]:
    """Bare addresses in a report line that point into module space: what is left of an unloaded module's symbols."""
    return [found for found in (in_module_area(int(m, 16)) for m in BARE_ADDRESS.findall(line)) if found]


def lines_after(log: str, marker: str) -> list[str]:
    """The lines of log after the last line containing marker (all lines if it is absent)."""
    lines = log.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        if marker in lines[index]:
            return lines[index + 1 :]
    return lines


# Taint bits (Documentation/admin-guide/tainted-kernels.rst). O and E are what loading any
# unsigned out-of-tree module sets, N what KUnit sets when the suites a module carries run as it
# loads (a kernel with KUnit: the debug kernels); the others are signals.
TAINT_FLAGS = {
    0: "P proprietary module", 1: "F forced load", 2: "S unsafe SMP", 3: "R forced unload",
    4: "M machine check", 5: "B bad page", 6: "U user request", 7: "D kernel died (oops)",
    8: "A ACPI table overridden", 9: "W kernel warning", 10: "C staging driver", 11: "I firmware workaround",
    12: "O out-of-tree module", 13: "E unsigned module", 14: "L soft lockup", 15: "K live patched",
    16: "X auxiliary", 17: "T randstruct", 18: "N test",
}  # fmt: skip
EXPECTED_TAINT = (1 << 12) | (1 << 13) | (1 << 18)


def taint_flags(value: int) -> list[str]:
    return [TAINT_FLAGS.get(bit, f"bit {bit}") for bit in range(value.bit_length()) if value >> bit & 1]


def unexpected_taint(before: int, after: int) -> list[str]:
    """Taint flags that appeared between two readings, besides the out-of-tree, unsigned and test ones."""
    return taint_flags((after & ~before) & ~EXPECTED_TAINT)


# What the kernel says of a module's parameters as it loads it (kernel/params.c's parse_args; the module
# loader's handler of unknown ones): one it does not know or that follows `--` is ignored and the load goes
# on; a value it cannot take fails the load.
PARAMETER_COMPLAINTS = (
    r"unknown parameter '.*' ignored",
    r"parameters '.*' after `--' ignored",
    r"Unknown parameter `.*'",
    r"`.*' (invalid|too large) for parameter `.*'",
)


def parameter_complaints(lines: Iterable[str], module: str) -> list[str]:
    """The kernel's lines about module's parameters that it ignored or refused, without timestamps."""
    pattern = re.compile(rf"^{re.escape(module)}: ({'|'.join(PARAMETER_COMPLAINTS)})$")
    said = (strip_timestamp(line).strip() for line in lines)
    return [text for text in said if pattern.match(text)]
