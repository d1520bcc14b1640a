"""Invoke tasks: `invoke --list` shows them, `invoke --help TASK` each one's flags.

They live in the toolkit (toolkit/tasks/, a module per namespace: vm, box, kernel, test, results,
config), so that the installed `vexfs-vmtest` command runs the same tasks from any directory.
"""

from __future__ import annotations

from invoke.main import program

from toolkit.program import strict
from toolkit.tasks import ns

# `invoke` imports this file before it parses the tasks' words: from here on it parses them as `vexfs-vmtest`
# does (a usage error is one line and exit status 2; a task's help shows its flags' types).
strict(program)

__all__ = ["ns"]
