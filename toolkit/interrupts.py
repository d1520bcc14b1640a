"""SIGINT, SIGTERM and SIGHUP during a run: stop within seconds, leave nothing behind, keep every result.

While `handled()` is active, any of them first kills every process this one started (mmdebstrap
and apt, make in a chroot, vagrant, ssh: all descendants; QEMU daemonizes and is stopped by the
machine's own destroy or reset), then raises `Interrupted` in the main thread, so that the
`finally` blocks on the way out (scratch folders, results marked interrupted, VMs rolled back or
destroyed) run with no child still writing. The exit status is 128 + the signal: 130, 143 or 129.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

import psutil

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # Ctrl-C, kill, the terminal closed


class Interrupted(BaseException):
    """The run was told to stop by a signal (a BaseException, like KeyboardInterrupt: no handler swallows it)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def kill_descendants() -> list[str]:
    """Kill every process below this one; the names of those killed."""
    children = psutil.Process().children(recursive=True)
    killed = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            killed.append(child.name())
            child.kill()
    psutil.wait_procs(children, timeout=5)
    return killed


def _on_signal(signum: int, frame: FrameType | None) -> None:
    for number in SIGNALS:
        signal.signal(number, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the cleanup
    kill_descendants()
    raise Interrupted(signum)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise Interrupted in the block (main thread only; elsewhere a no-op)."""
    try:
        previous = {number: signal.signal(number, _on_signal) for number in SIGNALS}
    except ValueError:  # not the main thread: signals are the main thread's to handle
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
