"""Record guest transcripts of the kernel_module domain from real runs of the fixture modules.

    .venv/bin/python -m tests.record_transcripts --kernel 6.1 [FIXTURE ...]

Each fixture (a directory of tests/e2e/modules/, or `vexfs` for kernel/vexfs) is built and
every_record on a fresh VM of the kernel line, as `invoke test.kernel` does, with every machine
call recorded into tests/unit/transcripts/<line>/<fixture>.txt (plain text: tests/transcript_text.py).
Re-record after changing what a test asks of its guest (a command's quoting alone is no change);
tests/unit/test_transcripts.py replays them all.

hang_init and busy_init are the exception: a live run gives up their insmod as soon as the kernel's log (streamed
by the guest agent, which a replay has not) reports the hang, so a new recording does not replay. Theirs come from
runs that waited for insmod's timeout; when a command they ask changes, change it in them.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from tests import transcripts
from tests.transcript_text import RecordedVerdict, Transcript
from toolkit import config, interrupts, kernels
from toolkit.domains import options
from toolkit.domains.base import Target, every_record
from toolkit.domains.guest import Guest
from toolkit.domains.kernel_module import domain as kernel_module
from toolkit.domains.module.build import build_for
from toolkit.domains.module.options import ModuleOptions
from toolkit.domains.module.subject import ModuleUnderTest
from toolkit.machines import registry
from toolkit.progress import Progress

REPO = Path(__file__).parents[1]
MODULES = REPO / "tests" / "e2e" / "modules"
FIXTURES = (
    "clean",
    "leaky",
    "oops_exit",
    "hang_init",
    "busy_init",
    "init_fail",
    "compile_error",
    "pair",
    "vexfs",
    "taptest",
)
OPTIONS: dict[str, dict[str, Any]] = {"pair": {"module": "second"}}
CYCLES = 5


def source_of(fixture: str) -> Path:
    return REPO / "kernel" / "vexfs" if fixture == "vexfs" else MODULES / fixture


def record(machine: Any, line: str, fixture: str, work_dir: Path) -> Transcript:
    """One fixture on a running machine: build, then every case, recorded."""
    values = {"module_dir": source_of(fixture), "cycles": CYCLES, **OPTIONS.get(fixture, {})}
    chosen = options.parse(ModuleOptions, values)
    release = machine.run("uname -r", timeout=30).stdout.strip()
    progress = Progress(f"{line} {fixture}")
    build = build_for(Target(machine, release, work_dir, progress), chosen)
    recorder = transcripts.RecordingMachine(machine)
    tokens: list[str] = []
    plain = Guest(recorder)

    def token() -> str:
        tokens.append(plain.token())
        return tokens[-1]

    target = Target(recorder, release, work_dir, progress, machine.record.debug)
    expected = []
    for subject in kernel_module.built_subjects(target, chosen, build, Guest(recorder, token)):
        for test in every_record(kernel_module.DOMAIN.cases, subject, progress):
            expected.append(RecordedVerdict(subject.name, test.name, test.status.value, test.message))
    saved_options = {key: value for key, value in values.items() if key != "module_dir"}
    return Transcript(fixture, line, release, machine.record.debug, saved_options, tuple(tokens),
                      transcripts.build_to_json(build), tuple(expected), tuple(recorder.calls))  # fmt: skip


def main(argv: list[str]) -> int:
    # A replay holds no .ko, so it places no address in the source (test_transcripts.py): nor does the recording
    ModuleUnderTest.symbolize = lambda self, verdict: verdict  # type: ignore[method-assign]
    arguments = argparse.ArgumentParser(prog="python -m tests.record_transcripts", description=__doc__)
    arguments.add_argument("--kernel", default="6.1")
    arguments.add_argument("fixtures", nargs="*", default=list(FIXTURES))
    args = arguments.parse_args(argv)
    line = kernels.select(args.kernel).name
    settings = dataclasses.replace(config.load(), kernel=line)
    vm_name = f"transcripts-{line}-{uuid.uuid4().hex[:6]}"
    machine = registry.define(settings, vm_name)
    with interrupts.handled():
        try:
            machine.up()
            for fixture in args.fixtures:
                with tempfile.TemporaryDirectory() as work_dir:
                    transcript = record(machine, line, fixture, Path(work_dir))
                path = transcripts.TRANSCRIPTS / line / f"{fixture}.txt"
                transcripts.save(path, transcript)
                verdicts = ", ".join(f"{verdict.test} {verdict.status}" for verdict in transcript.verdicts)
                print(f"{path.relative_to(REPO)}: {len(transcript.calls)} calls; {verdicts}", flush=True)
                machine.reset()
        finally:
            machine.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
