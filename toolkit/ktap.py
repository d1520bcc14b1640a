"""TAP 13/14 and KTAP (the kernel's Documentation/dev-tools/ktap.rst) read into test results.

`parse(text)` turns the output of a test script, or a KUnit suite's results, into its tests: each
with its number, name, status (`ok` passed, `not ok` failed, `# SKIP` skipped, `# TODO` and
`# XFAIL` expected failures, `# ERROR` an error), the diagnostic lines that belong to it and its
nested subtests (KTAP's indented blocks with their own `KTAP version 1`, TAP 14's `# Subtest:`).
A plan (`1..N`) the output does not reach is a crash: each test it never printed is an error,
"not run: the script ended after K of N". It never raises: a line it does not understand is kept
as output (and, like KTAP's unknown lines, as a diagnostic of the test nearby).

Which test a diagnostic line belongs to: in KTAP the lines before a result line are its own
(KUnit prints a case's failure, then `not ok`); in TAP they follow the result they explain
(Test::More, bats, most shell scripts). A block says which by its version line; a block
without one takes its parent's way, and a document without one is TAP.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from toolkit.results.records import Status

VERSION = re.compile(r"(K?TAP) version (\d+)\s*$")
PLAN = re.compile(r"1\.\.(\d+)\s*(?:#\s*(.*))?$")
RESULT = re.compile(r"(not ok|ok)(?:\s+(\d+))?(?:\s+-(?=\s|$))?(?:\s+(.*))?$")
SUBTEST = re.compile(r"#\s*Subtest:\s*(.*)$")
BAIL_OUT = re.compile(r"Bail out!\s*(.*)$")
DIRECTIVE = re.compile(r"(SKIP|TODO|XFAIL|TIMEOUT|ERROR)\w*(?:[\s:]+(.*))?$", re.IGNORECASE)
COMMENT = re.compile(r"(?:^|(?<=\s))(?<!\\)#")  # a `#` starting a result line's directive or diagnostic data
DMESG_TIME = re.compile(r"\[\s*\d+\.\d+\] ")  # as dmesg prints each kernel message
TAB = "    "  # a tab of indentation counts as one level of four spaces (old KUnit output used tabs)


@dataclass(frozen=True)
class TapTest:
    """One result line, with what belongs to it."""

    number: int
    name: str  # the description; "" when the line had none
    status: Status
    directive: str = ""  # SKIP, TODO, XFAIL, TIMEOUT or ERROR, as it was given; "" when none
    reason: str = ""  # what follows the `#` of the result line: a directive's explanation, or diagnostic data
    diagnostics: tuple[str, ...] = ()  # its diagnostic lines (without `# `), and unknown lines among them
    subtests: tuple[TapTest, ...] = ()

    def detail(self) -> str:
        """Why it ended as it did, in a line or a few: the result line's reason, then its diagnostics."""
        said = f"{self.directive}: {self.reason}" if self.directive in ("TODO", "XFAIL") else self.reason
        return "\n".join(line for line in (said, *self.diagnostics) if line.strip())


@dataclass(frozen=True)
class TapReport:
    """What a TAP or KTAP document said."""

    version: str = ""  # its version line, "KTAP version 1"; "" when it had none
    name: str = ""  # from the `# Subtest:` line heading it, if one did
    plan: int | None = None
    skip_all: str | None = None  # why, when its plan was `1..0 # SKIP why`
    tests: tuple[TapTest, ...] = ()
    bail_out: str | None = None  # the reason of a `Bail out!`
    problems: tuple[str, ...] = ()  # what broke the protocol without losing a result (more tests than planned)
    output: tuple[str, ...] = ()  # the lines it did not understand, as they came
    diagnostics: tuple[str, ...] = ()  # diagnostic lines no test took (a document without results)

    @property
    def found(self) -> bool:
        """Whether the text held any TAP at all: a version, a plan or a result line."""
        return bool(self.version or self.plan is not None or self.tests)

    def leaves(self) -> Iterator[tuple[tuple[str, ...], TapTest]]:
        """Every test that has no subtests, with its path of names from the top (a test without a name goes by
        its number); a parent is given too when it is red while none of its own subtests is, so that its
        failure is not lost."""
        for test in self.tests:
            yield from _leaves(test, ())


def _leaves(test: TapTest, above: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], TapTest]]:
    path = (*above, test.name or str(test.number))
    if not test.subtests:
        yield path, test
        return
    found = [leaf for sub in test.subtests for leaf in _leaves(sub, path)]
    red = (Status.FAILED, Status.ERROR)
    if test.status in red and not any(leaf.status in red for _, leaf in found):
        yield path, test
    yield from found


def status_of(ok: bool, directive: str) -> Status:
    """A result line's status: its directive's when it has one the protocols define, else ok or not."""
    kind = directive.upper()
    if kind == "SKIP":
        return Status.SKIPPED
    if kind in ("TODO", "XFAIL"):  # expected to fail: no failure when it does
        return Status.PASSED if ok else Status.SKIPPED
    if kind == "ERROR":
        return Status.ERROR
    if kind == "TIMEOUT":
        return Status.FAILED
    return Status.PASSED if ok else Status.FAILED


@dataclass
class _Test:
    number: int
    name: str
    ok: bool
    directive: str
    reason: str
    diagnostics: list[str]
    subtests: tuple[TapTest, ...] = ()
    status: Status | None = None  # set for a test made up (one never printed)

    def frozen(self) -> TapTest:
        status = self.status or status_of(self.ok, self.directive)
        return TapTest(self.number, self.name, status, self.directive.upper() if self.directive else "",
                       self.reason, tuple(self.diagnostics), self.subtests)  # fmt: skip


@dataclass
class _Block:
    """One level of nesting while it is read."""

    indent: int
    before: bool  # diagnostics go to the next result line (KTAP), else to the last one (TAP)
    version: str = ""
    name: str = ""
    plan: int | None = None
    plan_comment: str = ""
    tests: list[_Test] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # diagnostics for the next result line
    child: _Block | None = None  # a nested block that ended, waiting for this level's result line
    child_name: str = ""  # from a `# Subtest:` line at this level

    @property
    def started(self) -> bool:
        return bool(self.version or self.plan is not None or self.tests or self.child)

    def diagnostic(self, text: str) -> None:
        if self.before or not self.tests or self.child is not None:
            self.waiting.append(text)
        else:
            self.tests[-1].diagnostics.append(text)


@dataclass
class _Reader:
    source: str
    output: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    bail_out: str | None = None
    stack: list[_Block] = field(default_factory=list)
    held: list[tuple[str, str]] = field(default_factory=list)  # lines waiting for the next structural line

    def read(self, lines: list[str]) -> TapReport:
        for at, raw in enumerate(lines):
            line = DMESG_TIME.sub("", raw, count=1) if DMESG_TIME.match(raw) else raw
            body = line.lstrip(" \t")
            if not body.strip():
                continue
            indent = len(line[: len(line) - len(body)].replace("\t", TAB))
            body = body.rstrip()
            if not self.stack:
                self.stack.append(_Block(indent, before=False))
            if self.line(indent, body, raw):
                self.output.extend(lines[at + 1 :])
                break
        return self.report()

    def line(self, indent: int, body: str, raw: str) -> bool:
        """Take one line; True after a `Bail out!` (nothing after it is read)."""
        bail = BAIL_OUT.match(body)
        if bail:
            self.flush(self.stack[-1])
            self.bail_out = bail.group(1).strip()
            return True
        block = self.stack[-1]
        if not (VERSION.match(body) or PLAN.match(body) or RESULT.match(body) or SUBTEST.match(body)):
            if self.held or (indent < block.indent and body.startswith("#")):
                self.held.append((body, raw))  # which level it belongs to, the next structural line tells
            else:
                self.unknown_or_diagnostic(block, body, raw)
            return False
        self.end_blocks_above(indent)
        block = self.stack[-1]
        self.flush(block)
        if indent > block.indent:
            opened = _Block(indent, before=block.before)
            self.stack.append(opened)
            block = opened
        self.at_level(block, body, raw)
        return False

    def flush(self, block: _Block) -> None:
        """Diagnostics less indented than the block they came in, now that the next structural line has said
        where they belong: a suite's own lines after its cases' go to the suite, and KUnit's message of a
        parameterised case's failure (indented as the case, not as its parameters) to the parameter."""
        for body, raw in self.held:
            self.unknown_or_diagnostic(block, body, raw)
        self.held = []

    def end_blocks_above(self, indent: int) -> None:
        """A structural line less indented than the current block ends it; at the top, it makes the top a nested
        block of a new, less indented top (KUnit's suites, indented, then their unindented result lines)."""
        while indent < self.stack[-1].indent:
            if len(self.stack) > 1:
                ended = self.stack.pop()
                parent = self.stack[-1]
                if indent > parent.indent:  # back to a level in between: the ended block stands for it
                    self.stack.append(_Block(indent, before=parent.before, child=ended))
                    return
                self.adopt(parent, ended)
            elif not self.stack[0].started:
                self.stack[0].indent = indent
            else:
                top = self.stack.pop()
                self.stack.append(_Block(indent, before=top.before, child=top))

    def adopt(self, parent: _Block, ended: _Block) -> None:
        if parent.child is not None:  # two nested blocks without a result line between them
            parent.tests.append(self.unclosed(parent, parent.child))
        parent.child = ended

    def at_level(self, block: _Block, body: str, raw: str) -> None:
        version = VERSION.match(body)
        if version:
            if block.started:
                self.unknown_or_diagnostic(block, body, raw)
            else:
                block.version = body
                block.before = version.group(1) == "KTAP"
            return
        subtest = SUBTEST.match(body)
        if subtest:
            own = len(self.stack) > 1 or block.version.startswith("KTAP")
            if own and not block.tests and block.plan is None and block.child is None and not block.name:
                block.name = subtest.group(1).strip()  # KUnit: the block's own name, after its version line
            else:
                block.child_name = subtest.group(1).strip()  # TAP 14: the name of the block that follows
            return
        plan = PLAN.match(body)
        if plan and block.plan is None:
            block.plan, block.plan_comment = int(plan.group(1)), (plan.group(2) or "").strip()
            return
        result = RESULT.match(body)
        if result:
            self.result(block, result)
            return
        self.unknown_or_diagnostic(block, body, raw)

    def result(self, block: _Block, match: re.Match[str]) -> None:
        ok, number, rest = match.group(1) == "ok", match.group(2), match.group(3) or ""
        cut = COMMENT.search(rest)
        description, comment = (rest[: cut.start()], rest[cut.end() :]) if cut else (rest, "")
        directive = DIRECTIVE.match(comment.strip())
        kind, reason = (directive.group(1), (directive.group(2) or "").strip()) if directive else ("", comment.strip())
        subtests: tuple[TapTest, ...] = ()
        name = description.strip().replace("\\#", "#")
        if block.child is not None:
            subtests = self.close(block.child)
            name = name or block.child_name or block.child.name
        test = _Test(int(number) if number else len(block.tests) + 1, name, ok, kind, reason, block.waiting, subtests)
        block.tests.append(test)
        block.waiting, block.child, block.child_name = [], None, ""

    def unknown_or_diagnostic(self, block: _Block, body: str, raw: str) -> None:
        if body.startswith("#"):
            block.diagnostic(body[1:].strip())
            return
        self.output.append(raw)
        if block.started or len(self.stack) > 1:  # what came before the document began is no test's
            block.diagnostic(body)

    def unclosed(self, parent: _Block, child: _Block) -> _Test:
        """A test for a nested block whose result line never came: an error, its subtests kept."""
        subtests = self.close(child)
        name = parent.child_name or child.name
        why = f"no result line after its subtests: the {self.source} ended"
        return _Test(len(parent.tests) + 1, name, False, "", why, [], subtests, Status.ERROR)

    def close(self, block: _Block) -> tuple[TapTest, ...]:
        """A block's tests once it ended: a nested block left without its result line, and the tests its plan
        promised that never came, are errors."""
        if block.child is not None:
            block.tests.append(self.unclosed(block, block.child))
            block.child = None
        if block.waiting and block.tests:  # after the last result line: no test follows to take them
            block.tests[-1].diagnostics.extend(block.waiting)
            block.waiting = []
        ran = len(block.tests)
        planned = block.plan
        if planned is not None and ran < planned:
            seen = {test.number for test in block.tests}
            missing = [n for n in range(1, planned + 1) if n not in seen][: planned - ran]
            if self.bail_out is not None:
                why = f"not run: the {self.source} bailed out after {ran} of {planned}: {self.bail_out}"
            else:
                why = f"not run: the {self.source} ended after {ran} of {planned}"
            block.tests += [_Test(n, "", False, "", why, [], (), Status.ERROR) for n in missing]
        elif planned is not None and ran > planned and not block.plan_comment.upper().startswith("SKIP"):
            where = f" in {block.name}" if block.name else ""
            self.problems.append(f"{ran} tests ran{where} but the plan said {planned}")
        return tuple(test.frozen() for test in block.tests)

    def report(self) -> TapReport:
        if not self.stack:
            return TapReport(output=tuple(self.output))
        self.flush(self.stack[-1])
        while len(self.stack) > 1:
            ended = self.stack.pop()
            self.adopt(self.stack[-1], ended)
        top, left = self.stack[0], []
        if top.child is not None and not (top.version or top.plan is not None or top.tests):
            top, left = top.child, top.waiting  # a nested block and no result line for it: the block is the top
        skip = DIRECTIVE.match(top.plan_comment)
        skip_all = (skip.group(2) or "").strip() if top.plan == 0 and skip and skip.group(1).upper() == "SKIP" else None
        tests = self.close(top)
        return TapReport(top.version, top.name, top.plan, skip_all, tests, self.bail_out, tuple(self.problems),
                         tuple(self.output), tuple([*top.waiting, *left]))  # fmt: skip


def parse(text: str, source: str = "script") -> TapReport:
    """The tests a TAP or KTAP document reports; source names what printed it, in the words for the tests its plan
    promised but it never printed ("not run: the script ended after 3 of 5")."""
    return _Reader(source).read(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
