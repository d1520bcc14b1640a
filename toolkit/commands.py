"""How a task is declared: its flags (short ones from one table, their types, `--config` on every task) and
its errors, which become exit statuses.

Exit statuses mean one thing everywhere: 0 all passed, 1 a test failed, errored or was flaky, 2 a usage
or environment error (one line on stderr), 130/143 interrupted.
"""

from __future__ import annotations

import functools
import inspect
import shlex
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from invoke import Argument, Collection, Context, Task
from invoke.exceptions import Exit

from toolkit import settings_help, streams
from toolkit.domains.options import flags
from toolkit.errors import UserError
from toolkit.run_options import RunCommand
from toolkit.short_flags import short_flag

F = TypeVar("F", bound=Callable[..., Any])
KINDS: dict[str, type] = {
    "int | None": int,
    "float | None": float,
}  # parameter annotations, as `from __future__` keeps them
METAVARS = {float: "NUMBER"}  # what help shows for a value invoke parses as text (whole numbers: invoke's INT)


def user_facing(body: F) -> F:
    """Turn a UserError into one line and exit 2, a MachineError into one line and exit 1; Ctrl-C is 130; output
    that cannot be written is dropped (streams.py)."""

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from toolkit.machines.protocol import MachineError  # with the task's work, not with its declaration

        streams.forgive_output()
        try:
            return body(*args, **kwargs)
        except UserError as error:
            raise Exit(f"error: {error}", code=UserError.exit_code) from None
        except MachineError as error:
            raise Exit(f"error: {error}", code=1) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


CONFIG_KEY = "vexfs_vmtest_config"  # where a task's --config waits in its invoke context


class Command(Task):
    """A toolkit task: short flags from the table (toolkit/short_flags.py) and no others, `--config FILE`
    on every task, errors as one line and an exit status (`user_facing`), each flag's type in its help.

    kinds gives a flag's type where the body's signature cannot (a run's flags, toolkit/run_options.py);
    else a parameter declared `int | None = None` takes whole numbers, `float | None = None` any number.
    """

    def __init__(self, body: Callable[..., Any], kinds: Mapping[str, type] | None = None, **kwargs: Any) -> None:
        declared = {
            name: KINDS.get(str(parameter.annotation)) for name, parameter in inspect.signature(body).parameters.items()
        }
        self.kinds = {name: kind for name, kind in {**declared, **(kinds or {})}.items() if kind is not None}
        metavars = {name: METAVARS[kind] for name, kind in self.kinds.items() if kind in METAVARS}
        metavars |= {name: "STRING" for name in kwargs.get("iterable", ())}  # invoke shows a list flag's value as none
        self.metavars = {name.replace("_", "-"): metavar for name, metavar in metavars.items()}
        super().__init__(user_facing(body), auto_shortflags=False, **kwargs)

    def arg_opts(self, name: str, default: Any, taken_names: set[str]) -> dict[str, Any]:
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        if self.kinds.get(name) is int:
            opts.setdefault("kind", int)
        letter = short_flag(opts["names"][0])
        return {**opts, "names": [*opts["names"], *([letter] if letter else [])]}

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        helps = dict(self.help)  # invoke's own get_arguments uses the help up: keep it for the next parser
        try:
            arguments: list[Argument] = super().get_arguments(ignore_unknown_help)
        finally:
            self.help = helps
        return [*arguments, Argument(names=("config",), help=settings_help.CONFIG_HELP)]

    def __deepcopy__(self, memo: dict[int, Any]) -> Command:
        """The task itself: a declared task does not change, so the copies invoke makes of every task of a
        namespace it loads (at every command's start) can share it."""
        return self

    def __call__(self, c: Context, *args: Any, **kwargs: Any) -> Any:
        c.config[CONFIG_KEY] = kwargs.pop("config", None) or c.config.get(CONFIG_KEY)  # the task's, else the program's
        return super().__call__(c, *args, **kwargs)


def command(**kwargs: Any) -> Callable[[Callable[..., Any]], Command]:
    """`@command(help=...)`: a toolkit task (see Command); takes what invoke's `@task` takes."""
    return lambda body: Command(body, **kwargs)


def chosen_config(c: Context) -> Path | None:
    """The settings file a task was given with --config, None when it was not."""
    chosen = c.config.get(CONFIG_KEY)
    return Path(chosen) if chosen else None


def command_for(
    run: RunCommand, own: type | None = None
) -> Callable[[Callable[[Context, dict[str, Any]], None]], Command]:
    """A task offering a run's flags (toolkit/run_options.py), and those of its own options (a dataclass of
    `option()` fields) when it has any: its body gets their values by option field."""
    by_parameter = {flag.flag.replace("-", "_"): flag for flag in [*run.flags(), *(flags(own) if own else [])]}

    def make(body: Callable[[Context, dict[str, Any]], None]) -> Command:
        @functools.wraps(body)
        def task_body(c: Context, **given: Any) -> None:
            body(c, {by_parameter[parameter].field: value for parameter, value in given.items()})

        parameters = [inspect.Parameter("c", inspect.Parameter.POSITIONAL_OR_KEYWORD)] + [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False if flag.kind is bool else None)
            for name, flag in by_parameter.items()
        ]
        task_body.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        helps = {name: flag.described() for name, flag in by_parameter.items()}
        kinds = {name: flag.kind for name, flag in by_parameter.items()}
        iterable = [name for name, flag in by_parameter.items() if flag.repeat]
        return Command(task_body, kinds=kinds, help=helps, iterable=iterable)

    return make


def collection(prefix: str, *tasks: Any) -> Collection:
    """A namespace of tasks named without their prefix: `vm_up` is `vm.up`."""
    named = Collection(prefix)
    for body in tasks:
        named.add_task(body, name=body.name.removeprefix(f"{prefix}_"))
    return named


def remainder(argv: list[str]) -> str:
    """The words after `--` on the command line, quoted for a shell so each reaches it as the same word."""
    return shlex.join(argv[argv.index("--") + 1 :]) if "--" in argv else ""


def positional(*names: str, repeat_last: bool = False) -> Callable[[F], F]:
    """Let a task's first words stand for these options, in order, any of them left out.

    `invoke results.diff A B` then means `invoke results.diff --run-a A --run-b B`; invoke's own
    positional arguments cannot be left out. With repeat_last every further word is the last
    option again (an iterable one): `invoke results.merge A B C`.
    """

    def mark(body: F) -> F:
        body.positional_options = names  # type: ignore[attr-defined]
        body.positional_repeat = repeat_last  # type: ignore[attr-defined]
        return body

    return mark


def takes_command(body: F) -> F:
    """Mark a task that runs the command given after `--`: words before `--` are a usage error saying so."""
    body.takes_command = True  # type: ignore[attr-defined]
    return body
