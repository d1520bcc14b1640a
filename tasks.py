"""Invoke tasks: `invoke --list` shows them, `invoke --help TASK` each one's flags.

They live in the toolkit (toolkit/tasks/, a module per namespace: vm, box, kernel, test, results,
config), so that the installed `vexfs-vmtest` command runs the same tasks from any directory.
"""

from __future__ import annotations

from invoke.main import program

from toolkit.cli import strict_command_line
from toolkit.tasks import ns

# `invoke` imports this file before it parses the tasks' words: from here on its usage errors
# (unknown flag or task, a flag without its value) are one line and exit status 2, like ours.
strict_command_line(program)

__all__ = ["ns"]
