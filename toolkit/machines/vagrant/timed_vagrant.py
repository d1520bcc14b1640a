"""python-vagrant with a timeout on every vagrant command, imported only when a vagrant VM is driven.

python-vagrant logs "The Vagrant executable cannot be found" when it is imported on a host without
vagrant; the provider says so itself (host_checks.require_tool) when it is really asked for, so that line
is silenced, and nothing else imports python-vagrant.
"""

from __future__ import annotations

import logging
from typing import Any

logging.getLogger("vagrant").setLevel(logging.ERROR)

import vagrant as python_vagrant  # noqa: E402 (after the logger is quieted)

make_file_cm = python_vagrant.make_file_cm


class TimedVagrant(python_vagrant.Vagrant):
    """python-vagrant with a timeout on every vagrant command (it has none of its own)."""

    def __init__(self, timeout_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout_s = timeout_s

    def _make_vagrant_command(self, args: list[str | None]) -> list[str]:
        command = super()._make_vagrant_command(args)
        return ["timeout", "--kill-after=10", str(int(self.timeout_s)), *command]
