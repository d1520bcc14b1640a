"""A command in a session (and process group) of its own, bounded in time: past its timeout, or when the toolkit
is interrupted, the whole group is killed, whatever it started (a make's compilers too: a terminal's Ctrl-C does
not reach another session)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable

TIMED_OUT = 124  # the status of a command killed at its timeout, as timeout(1) gives


def kill_group(leader: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have ended by itself meanwhile
        os.killpg(leader, signal.SIGKILL)


def run(command: list[str], timeout: float, running: Callable[[int], None] = lambda pid: None) -> tuple[int, str]:
    """command's status and its output and errors together (`running` is told its pid, the group's); TIMED_OUT and
    what it printed until then when it was killed at timeout."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          text=True, start_new_session=True) as process:  # fmt: skip
        try:
            running(process.pid)
            output = process.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            kill_group(process.pid)
            return TIMED_OUT, process.communicate()[0]
        except BaseException:
            kill_group(process.pid)
            raise
    return process.returncode, output
