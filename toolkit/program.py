"""`vexfs-vmtest`: the toolkit's tasks as a command of their own, from any directory and from a pipx installation.

`vexfs-vmtest TASK ...` is `invoke TASK ...` in the checkout: the same collection (toolkit/tasks/),
the same flags and the same one-line usage errors with exit status 2; `--version` prints the toolkit's.
`vexfs-vmtest --config FILE TASK` names the settings file for every task, as a task's own --config
does (invoke's runtime configuration files, which `--config` names for `invoke`, mean nothing here).
"""

from __future__ import annotations

from typing import Any

from invoke import Argument, Program

from toolkit import __version__, config
from toolkit.cli import CONFIG_KEY, strict_command_line
from toolkit.tasks import ns

NAME = "vexfs-vmtest"


class Vmtest(Program):
    def core_args(self) -> list[Argument]:
        ours = Argument(names=("config",), help=config.CONFIG_HELP)
        return [ours if argument.name == "config" else argument for argument in super().core_args()]

    def update_config(self, merge: bool = True) -> None:
        chosen = self.args.config.value
        self.args.config.set_value(None, cast=False)  # no invoke runtime file: the settings file is ours
        super().update_config(merge)
        self.config[CONFIG_KEY] = chosen


program = Vmtest(namespace=ns, version=__version__, name=NAME, binary=NAME)
strict_command_line(program, NAME)


def main() -> Any:
    return program.run()
