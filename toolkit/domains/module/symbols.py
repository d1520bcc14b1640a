"""Where a kernel report points in a module's source: its code addresses become `file.c:line (function)`.

Two kinds of address name a module's code in a report, a trace or a message:
- a frame, `leaky_init+0x21/0x40 [leaky]` (`leaky_init+0x21` in a message): the symbol's section and value in
  the .ko give the section and the offset there;
- a bare address (0xffffffffc023a021, `[<ffffffffc023a021>]`), what is left once the module is unloaded: the
  addresses its code sections were loaded at (/sys/module/NAME/sections, recorded while it was loaded) give them.
Every frame but the one that faulted (`RIP:`) holds a return address: it is looked up one byte back, at the call.
Of the chain of functions inlined there, the innermost in the module's own sources is shown, its path relative to
them (kmalloc, inlined from a kernel header, is passed over for the module's line that called it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from toolkit import kernel_log
from toolkit.domains.base import Verdict
from toolkit.domains.module import addr2line, elf
from toolkit.domains.module.addr2line import SourceLine

FRAME = re.compile(
    r"(?<![\w.])(?P<symbol>[A-Za-z_][\w.]*)\+0x(?P<offset>[0-9a-f]+)(?:/0x[0-9a-f]+)?(?: \[(?P<module>\w+)\])?"
)
BARE = re.compile(r"(?:(?<![\w<])0x|\[<)(?P<address>[0-9a-f]{16})\b(?:>\])?")
# what follows a frame's `[<address>]` when the kernel named it (6.x kmemleak): the address is not bare, and may lie
# where a kernel without KASLR maps modules though it is the kernel's own code (KASLR moves it there)
NAMED_NEXT = re.compile(r"\s+[A-Za-z_][\w.]*\+0x")
FAULTED = re.compile(r"\bRIP: [0-9a-f]{4}:")  # the frame that faulted: its address is the instruction itself
NOT_CODE = "Code: "  # a line of the bytes around the faulting instruction
CALL_TRACE = "Call Trace:"
UNRELIABLE = re.compile(r"\]\s+\? ")  # `[ 20.08]  ? label_write+0x5f/0x99 [m]`: a stale return address on the stack


class Spot(NamedTuple):
    """A place in the module's code: a section of the .ko and an offset in it (as addr2line's answers key it)."""

    section: str
    offset: int


@dataclass(frozen=True)
class Mention:
    """An address of the module's code in a line of text: where the text names it and the place it means."""

    start: int
    end: int
    spot: Spot
    function: str  # the symbol it was named by ("" for a bare address)


@dataclass(frozen=True)
class ModuleCode:
    """What places an address in a module's code: its function symbols, its code sections' sizes, and where
    those sections were when it was last seen loaded (empty when it never was)."""

    name: str
    symbols: tuple[elf.Symbol, ...]
    section_sizes: Mapping[str, int]
    loaded_at: Mapping[str, int]

    def named(self, symbol: str, offset: int) -> Spot | None:
        found = next((s for s in self.symbols if s.name == symbol), None)
        return Spot(found.section, found.offset + offset) if found else None

    def at(self, address: int) -> Spot | None:
        for section, start in self.loaded_at.items():
            if start <= address < start + self.section_sizes.get(section, 0):
                return Spot(section, address - start)
        return None

    def mentions(self, text: str, tagged_only: bool = True) -> list[Mention]:
        """The module's code addresses in text: frames tagged with its name (untagged ones too, naming its
        functions, when not tagged_only) and bare addresses in its recorded sections; each return address one
        byte back."""
        if _code_bytes(text):
            return []
        back = 0 if FAULTED.search(text) else 1
        found = []
        for match in FRAME.finditer(text):
            if match["module"] != self.name and (tagged_only or match["module"] is not None):
                continue
            offset = int(match["offset"], 16)
            spot = self.named(match["symbol"], max(offset - back, 0))
            if spot:
                found.append(Mention(match.start(), match.end(), spot, match["symbol"]))
        for match in BARE.finditer(text):
            spot = self.at(int(match["address"], 16) - back)
            if spot:
                found.append(Mention(match.start(), match.end(), spot, ""))
        kept: list[Mention] = []
        for mention in sorted(found, key=lambda mention: mention.start):
            if kept and kept[-1].spot == mention.spot and not text[kept[-1].end : mention.start].strip():
                kept[-1] = mention  # one place said twice in a row (kmemleak's `[<address>] frame`): the last says it
            else:
                kept.append(mention)
        return kept


def unplaced(code: ModuleCode, log: Iterable[str]) -> set[str]:
    """The bare code addresses in log where modules are mapped that none of the module's recorded sections holds."""
    found = set()
    for line in log:
        for match in () if _code_bytes(line) else BARE.finditer(line):
            if NAMED_NEXT.match(line, match.end()):
                continue
            address = int(match["address"], 16)
            if kernel_log.in_module_area(address) and code.at(address) is None and code.at(address - 1) is None:
                found.add(match["address"])
    return found


def _code_bytes(line: str) -> bool:
    """Whether line shows the bytes around a faulting instruction, not a frame."""
    return kernel_log.strip_timestamp(line).lstrip().startswith(NOT_CODE)


def spots(code: ModuleCode, message: str, log: Iterable[str]) -> dict[str, list[int]]:
    """Every place message and log mention, as addr2line is asked for them: section -> offsets."""
    mentions = [*code.mentions(message, tagged_only=False), *(m for line in log for m in code.mentions(line))]
    wanted: dict[str, list[int]] = {}
    for mention in mentions:
        offsets = wanted.setdefault(mention.spot.section, [])
        if mention.spot.offset not in offsets:
            offsets.append(mention.spot.offset)
    return wanted


def shown(chain: tuple[SourceLine, ...], sources: str) -> str:
    """A place as a report shows it: `leaky.c:13 (leaky_init)`, the innermost frame in the module's sources
    (under sources, the folder it was compiled in) or else the innermost of all; "" when addr2line knew nothing."""
    own = [frame for frame in chain if sources and frame.file.startswith(sources.rstrip("/") + "/")]
    frame = own[0] if own else (chain[0] if chain else None)
    if frame is None:
        return ""
    file = str(Path(frame.file).relative_to(sources)) if own else frame.file
    return f"{file}:{frame.line} ({frame.function})"


Places = Mapping[tuple[str, int], str]  # (section, offset) -> the place it means, as `shown` gives it


def annotated(line: str, code: ModuleCode, places: Places) -> str:
    """A kernel log line with each of the module's code addresses it mentions followed by the place it means."""
    return _rewritten(line, code, places, lambda said, place: f"{said} {place}", tagged_only=True)


def replaced(message: str, code: ModuleCode, places: Places) -> str:
    """message with each of the module's code addresses it mentions replaced by the place it means."""
    return _rewritten(message, code, places, lambda said, place: place, tagged_only=False)


def _rewritten(text: str, code: ModuleCode, places: Places, how: Callable[[str, str], str], tagged_only: bool) -> str:
    out, at = [], 0
    for mention in code.mentions(text, tagged_only):
        place = places.get(mention.spot, "")
        if place and mention.start >= at:
            out += [text[at : mention.start], how(text[mention.start : mention.end], place)]
            at = mention.end
    return "".join(out) + text[at:]


def reported_at(title: str, log: Iterable[str], code: ModuleCode, places: Places) -> str:
    """Where the report titled title happened: the first place in log in the function the title names, as
    `file.c:line` (with the function inlined there, when it was one); "" when the title names none of the
    module's functions, as a slab cache's report does."""
    named_in_title = set(re.findall(r"[\w.]+", title))
    for line in log:
        for mention in code.mentions(line):
            place = places.get(mention.spot, "")
            function = place.rpartition(" (")[2][:-1]
            if place and function in named_in_title:
                return place.rpartition(" (")[0]  # the title names its function already
            if place and mention.function in named_in_title:
                return place  # inlined there: the function it was inlined from
    return ""


def called_from(log: Iterable[str], code: ModuleCode, places: Places) -> str:
    """The first of the module's frames in the first call trace of log, as its place (`file.c:line (function)`),
    frames the kernel marks unreliable (`? name+0x...`) passed over: where a report the kernel titled by its own
    function (a WARNING in a usercopy check, a slab report in kfree) was reached from the module; "" when none."""
    in_trace = False
    for line in log:
        if CALL_TRACE in line:
            if in_trace:
                return ""
            in_trace = True
        elif in_trace and not UNRELIABLE.search(line):
            for mention in code.mentions(line):
                if places.get(mention.spot):
                    return places[mention.spot]
    return ""


def symbolized(verdict: Verdict, code: ModuleCode, ko: Path, debug_info: bool, sources: str,
               sysroot: Path | None) -> Verdict:  # fmt: skip
    """verdict with the places its message and kernel log point at in the module's source, found by addr2line
    in the .ko (`located`); when they cannot be known, its message says why (bare addresses where no recorded
    load of the module was: code of another module, or of a load the guest died in before a probe saw it)."""
    wanted = spots(code, verdict.message, verdict.kernel_log)
    bare = unplaced(code, verdict.kernel_log)
    if bare:
        many = f"{len(bare)} bare addresses: no recorded load of {code.name} holds them"
        said = many if len(bare) > 1 else f"a bare address: no recorded load of {code.name} holds it"
        verdict = replace(verdict, message=f"{verdict.message} (file:line unknown for {said})")
    if not wanted:
        return verdict
    if not debug_info:
        return replace(verdict, message=f"{verdict.message} (file:line unknown: {ko.name} carries no debug info)")
    try:
        chains = addr2line.source_lines(ko, wanted, sysroot)
    except addr2line.Addr2lineFailed as error:
        return replace(verdict, message=f"{verdict.message} (file:line unknown: {error})")
    return located(verdict, code, {spot: place for spot, chain in chains.items() if (place := shown(chain, sources))})


def located(verdict: Verdict, code: ModuleCode, places: Places) -> Verdict:
    """verdict with places put in: in its message (each address replaced, a report's title followed by where it
    happened) and in a copy of its kernel log kept beside the raw one (each address followed by its place)."""
    message = replaced(verdict.message, code, places)
    title = verdict.report_titles[0] if verdict.report_titles else ""
    where = reported_at(title, verdict.kernel_log, code, places) if title else ""
    if where and title in message and where not in message:
        message = message.replace(title, f"{title} at {where}", 1)
    caller = "" if where or not title else called_from(verdict.kernel_log, code, places)
    if caller and title in message and caller not in message:
        message = message.replace(title, f"{title} called from {caller}", 1)
    log = tuple(annotated(line, code, places) for line in verdict.kernel_log)
    return replace(verdict, message=message, kernel_log_symbolized=log if log != verdict.kernel_log else ())
