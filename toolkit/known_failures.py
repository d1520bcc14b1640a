"""Known failures: the tests a subject is expected to fail, on which kernels and why, as the `[[known_failure]]`
tables of its vmtest.toml list them. A red test an entry covers is reported `known` with the entry's reason and
does not fail the run; a test an entry covers that passed is reported `fixed?`, so the list can shrink.

    [[known_failure]]
    test = "unload"                      # a test of a domain
    kernels = ["5.10", ">=7.0"]          # kernel lines, or versions of the guest's release; absent: every kernel
    reason = "needs the folio API"       # why, in one line
    title = "BUG: unable to handle ..."  # only a red charged with this kernel report (toolkit/report_titles.py)

Every field is checked when the file is read, its test names before a run starts (`check_tests`).
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from toolkit import kernels
from toolkit.errors import UserError
from toolkit.results.records import Status, Subtest, TestRecord

KEY = "known_failure"  # the array of tables in vmtest.toml
FIELDS = ("test", "kernels", "reason", "title")
EXAMPLES = {"test": "unload", "reason": "needs the folio API (5.16+)", "title": "BUG: unable to handle ..."}
MAX_TEXT = 300  # a reason or title is one line of a table, not a bug report
MAX_ENTRIES = 1000
RED = (Status.FAILED, Status.ERROR)  # the subtests an entry turns known with their test
COMPARISON = re.compile(r"\s*(>=|<=|==|>|<)\s*([0-9]{1,4}(?:\.[0-9]{1,4}){0,2})\s*")
RELEASE_VERSION = re.compile(r"([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?")
COMPARE: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, ">": operator.gt, "<": operator.lt,
}  # fmt: skip

Version = tuple[int, int, int]


def _version(text: str) -> Version:
    """A version as three numbers, missing parts 0: `7.0` is (7, 0, 0)."""
    match = RELEASE_VERSION.match(text)
    numbers = [int(part or 0) for part in match.groups()] if match else [0, 0, 0]
    return numbers[0], numbers[1], numbers[2]


@dataclass(frozen=True)
class KernelMatch:
    """One item of an entry's `kernels`: a kernel line by name (its built variants too: 6.1 covers 6.1-debug), or
    comparisons with the version of the guest's release, every one of which must hold (`>=5.15, <6.2`)."""

    line: str = ""
    comparisons: tuple[tuple[str, Version], ...] = ()

    def covers(self, line: str, release: str) -> bool:
        if self.line:
            return line == self.line or line.startswith(f"{self.line}-")
        found = _version(release)
        return bool(release) and all(COMPARE[sign](found, version) for sign, version in self.comparisons)

    def __str__(self) -> str:
        return self.line or ", ".join(f"{sign}{'.'.join(map(str, version))}" for sign, version in self.comparisons)


@dataclass(frozen=True)
class KnownFailure:
    """One entry: the test, where it is expected to fail (no kernels: everywhere), why, and the kernel report it
    must be charged with ("" for any red)."""

    test: str
    reason: str
    kernels: tuple[KernelMatch, ...] = ()
    title: str = ""
    where: str = ""  # the file and entry it came from, for messages

    def __str__(self) -> str:
        """`unload on 5.10, >=7.0.0: needs the folio API` (on every kernel when it names none), with its title."""
        where = ", ".join(map(str, self.kernels)) or "every kernel"
        return f"{self.test} on {where}: {self.reason}" + (f" (when titled {self.title!r})" if self.title else "")

    def covers(self, record: TestRecord, line: str, release: str) -> bool:
        """Whether this entry speaks for record on this kernel: a red record when its title (if any) is among the
        record's report titles; a passed one whatever the title (it is the entry that may go)."""
        if record.name != self.test or record.status is Status.SKIPPED:
            return False
        if self.kernels and not any(match.covers(line, release) for match in self.kernels):
            return False
        return record.status is Status.PASSED or not self.title or self.title in record.report_titles


def _text(entry: dict[str, object], name: str, where: str, required: bool) -> str:
    """A field that is one line of text, stripped; "" when it is absent and not required."""
    value = entry.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        got = "missing" if value is None else f"{value!r}, not a non-empty string"
        raise UserError(f'{where}: {name} is {got}: write it as a string, e.g. {name} = "{EXAMPLES[name]}"')
    if "\n" in value or "\r" in value or "\0" in value or len(value) > MAX_TEXT:
        raise UserError(f"{where}: {name} must be one line of at most {MAX_TEXT} characters: shorten it")
    return value.strip()


def _kernel_match(item: object, where: str) -> KernelMatch:
    fix = 'name a kernel line (e.g. "6.1") or versions of the guest\'s kernel (e.g. ">=7.0" or ">=5.15, <6.2")'
    if not isinstance(item, str) or not item.strip():
        raise UserError(f"{where}: kernels item {item!r} is not a kernel: {fix}")
    if item.strip()[0] in "<>=":
        parts = item.split(",")
        matches = [COMPARISON.fullmatch(part) for part in parts]
        if not all(matches):
            raise UserError(f"{where}: kernels item {item!r} is no version range: {fix}")
        return KernelMatch(comparisons=tuple((m.group(1), _version(m.group(2))) for m in matches if m))
    try:
        return KernelMatch(line=kernels.select(item).name)
    except UserError as error:
        raise UserError(f"{where}: kernels item {item!r}: {error}") from None


def _kernels(entry: dict[str, object], where: str) -> tuple[KernelMatch, ...]:
    value = entry.get("kernels")
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise UserError(f"{where}: kernels = {value!r} is not a non-empty list: write e.g. kernels = [\"6.1\"], or "
                        "leave kernels out for every kernel")  # fmt: skip
    return tuple(_kernel_match(item, where) for item in value)


def _entry(entry: object, where: str) -> KnownFailure:
    if not isinstance(entry, dict):
        raise UserError(f"{where} is not a table: write each entry as a [[{KEY}]] table with test and reason")
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise UserError(f"{where}: unknown field {unknown[0]!r}: an entry has {', '.join(FIELDS)}")
    return KnownFailure(_text(entry, "test", where, True), _text(entry, "reason", where, True),
                        _kernels(entry, where), _text(entry, "title", where, False), where)  # fmt: skip


def parse(value: object, path: Path) -> tuple[KnownFailure, ...]:
    """The entries of a settings file's `known_failure` value, each checked; a UserError naming the file and entry
    for the first wrong one."""
    if not isinstance(value, list) or not value:
        raise UserError(f"{KEY} in {path} is not a list of tables: write each entry as a [[{KEY}]] table with test "
                        "and reason")  # fmt: skip
    if len(value) > MAX_ENTRIES:
        raise UserError(f"{path} lists {len(value)} known failures: at most {MAX_ENTRIES}; remove the fixed ones")
    return tuple(_entry(entry, f"{path}: {KEY} {index}") for index, entry in enumerate(value, start=1))


def check_tests(entries: Sequence[KnownFailure], tests: Mapping[str, Sequence[str]]) -> None:
    """Every entry names a test of a domain (tests: each domain's, by its name); a UserError listing them for the
    first that does not."""
    for entry in entries:
        if not any(entry.test in names for names in tests.values()):
            listed = "; ".join(f"{domain}: {', '.join(names)}" for domain, names in tests.items())
            raise UserError(f"{entry.where}: test {entry.test!r} is no test: name one of a domain's ({listed})")


@dataclass(frozen=True)
class KnownOnKernel:
    """The entries as one kernel line sees them: what they make of each record found on it."""

    entries: tuple[KnownFailure, ...] = ()
    line: str = ""
    release: str = ""  # the guest's `uname -r`

    def judged(self, record: TestRecord) -> TestRecord:
        """record as the first entry covering it says: a red one known (`known: <reason>: <message>`), its red
        subtests too, a passed one fixed? (`fixed?: ...`); both keep the entry's reason. Unchanged when no entry
        covers it."""
        entry = next((e for e in self.entries if e.covers(record, self.line, self.release)), None)
        if entry is None:
            return record
        if record.status is Status.PASSED:
            message = f"fixed?: passed, though a known failure ({entry.reason}): {record.message}"
            return dataclasses.replace(record, message=message, known_failure=entry.reason)
        subtests = tuple(_known(subtest, entry.reason) if subtest.status in RED else subtest
                         for subtest in record.subtests)  # fmt: skip
        return dataclasses.replace(record, status=Status.KNOWN, message=f"known: {entry.reason}: {record.message}",
                                   subtests=subtests, known_failure=entry.reason)  # fmt: skip


def _known(subtest: Subtest, reason: str) -> Subtest:
    return dataclasses.replace(subtest, status=Status.KNOWN, message=f"known: {reason}: {subtest.message}")


NONE_KNOWN = KnownOnKernel()
