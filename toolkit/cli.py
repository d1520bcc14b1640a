"""The edge between commands (tasks.py, noxfile.py) and the toolkit: errors become exit statuses.

Exit statuses mean one thing everywhere: 0 all passed, 1 a test failed or errored, 2 a usage
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

from invoke import Argument, Context, Task
from invoke.exceptions import Exit, ParseError

from toolkit import config, streams
from toolkit.errors import UserError
from toolkit.machines.protocol import MachineError
from toolkit.run_options import RunCommand
from toolkit.short_flags import short_flag

F = TypeVar("F", bound=Callable[..., Any])


def user_facing(body: F) -> F:
    """Turn a UserError into one line and exit 2, a MachineError into one line and exit 1; Ctrl-C is 130; output
    that cannot be written is dropped (streams.py)."""

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
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
    on every task, errors as one line and an exit status (`user_facing`)."""

    def __init__(self, body: Callable[..., Any], **kwargs: Any) -> None:
        # Parameters declared `int | None = None`: whole numbers when given, which invoke cannot tell from a None.
        self.whole_numbers = {name for name, parameter in inspect.signature(body).parameters.items()
                              if parameter.annotation in ("int | None", int | None)}  # fmt: skip
        super().__init__(user_facing(body), auto_shortflags=False, **kwargs)

    def arg_opts(self, name: str, default: Any, taken_names: set[str]) -> dict[str, Any]:
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        if name in self.whole_numbers:
            opts.setdefault("kind", int)
        letter = short_flag(opts["names"][0])
        return {**opts, "names": [*opts["names"], *([letter] if letter else [])]}

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        helps = dict(self.help)  # invoke's own get_arguments uses the help up: keep it for the next parser
        try:
            arguments: list[Argument] = super().get_arguments(ignore_unknown_help)
        finally:
            self.help = helps
        return [*arguments, Argument(names=("config",), help=config.CONFIG_HELP)]

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


def run_command(run: RunCommand) -> Callable[[Callable[[Context, dict[str, Any]], None]], Command]:
    """A task offering a run's flags (toolkit/run_options.py): its body gets their values by option field."""
    by_parameter = {flag.flag.replace("-", "_"): flag for flag in run.flags()}

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
        return Command(task_body, help=helps, iterable=[name for name, flag in by_parameter.items() if flag.repeat])

    return make


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


def _argument(word: str, *contexts: Any) -> Any:
    """The invoke Argument a flag names in a task's context or invoke's core ones, None when none does."""
    for context in contexts:
        if context is None:
            continue
        if word in context.flags:
            return context.flags[word]
        if word in context.inverse_flags:
            return context.flags[context.inverse_flags[word]]
    return None


def _value_after(flag: str, words: list[str], index: int, contexts: tuple[Any, ...], task: str) -> str:
    """The word after a flag that needs a value; a UserError when there is none (the flag was last or another follows)."""
    following = words[index] if index < len(words) else None
    if following is None or following.startswith("--") or _argument(following, *contexts) is not None:
        see = f" (see `invoke --help {task}`)" if task else ""
        raise UserError(f"{flag} needs a value: write `{flag} VALUE`{see}")
    return following


def _check_kind(argument: Any, flag: str, value: str) -> None:
    if argument.kind is int:
        try:
            int(value)
        except ValueError:
            raise UserError(f"{flag} must be a whole number, not {value!r}") from None


def _command_after_dashes(task: str, words: list[str], start: int) -> UserError:
    written = shlex.join([*words[:start], "--", *words[start:]])
    return UserError(f"{task} runs the command given after --: write `invoke {written}`")


def checked_words(words: list[str], tasks: Mapping[str, Any], bodies: Mapping[str, Any], core: Any) -> list[str]:
    """Task words from a command line (before `--`) checked, and positional options spelled as flags.

    tasks maps each task name (and alias) to its invoke parser context, bodies each context's name
    to its task function, core is invoke's own context. invoke drops an iterable flag given no
    value and takes the next flag as the value of the one before; here both are usage errors, as
    are a whole-number flag given anything else and a guest command given before `--`.
    """
    checked: list[str] = []
    context: Any = None
    slots: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        flag, equals, value = word.partition("=")
        argument = _argument(flag, context, core) if word.startswith("-") else None
        if argument is not None and argument.takes_value and not argument.optional:
            if not equals:
                task = context.name if context is not None else ""
                value = _value_after(flag, words, index, (context, core), task)
                checked.append(word)
                word = value
                index += 1
            _check_kind(argument, flag, value)
        elif word in tasks:
            context = tasks[word]
            slots = list(getattr(bodies[context.name], "positional_options", ()))
        elif context is not None and not word.startswith("-"):
            if slots:
                repeat = len(slots) == 1 and getattr(bodies[context.name], "positional_repeat", False)
                checked.append(f"--{(slots[0] if repeat else slots.pop(0)).replace('_', '-')}")
            elif getattr(bodies[context.name], "takes_command", False):
                raise _command_after_dashes(context.name, words, index - 1)
        checked.append(word)
    return checked


def _parse_error(error: ParseError, invocation: str) -> str:
    """invoke's complaint as one line that says where to look: `No idea what '--x' is!` and the task's help."""
    context = getattr(error, "context", None)
    see = f"`{invocation} --help {context.name}`" if context is not None and context.name else f"`{invocation} --list`"
    text = str(error).rstrip("!")
    return f"{text[:1].lower()}{text[1:]}: see {see}"


def _usage_errors_exit_2(step: Callable[[], Any], invocation: str) -> Callable[[], Any]:
    @functools.wraps(step)
    def wrapper() -> Any:
        try:
            return step()
        except ParseError as error:
            raise Exit(f"error: {_parse_error(error, invocation)}", code=UserError.exit_code) from None

    return wrapper


def strict_command_line(program: Any, invocation: str = "invoke") -> None:
    """Make invoke's command line report like the toolkit: one line on stderr and exit status 2.

    invoke exits 1 on its own parse errors and lets some mistakes through (an iterable flag
    without its value). tasks.py is imported while invoke loads the task collection, before it
    parses the tasks' words, so it can wrap this program's later steps: the parser it makes
    checks the words first (`checked_words`), and parse errors become Exit(code=2). invocation
    is how the program is typed, for the help its messages point at.
    """
    if getattr(program, "strict_command_line", False):
        return
    make_parser = program._make_parser

    def checking_parser() -> Any:
        parser = make_parser()
        bodies = {context.name: program.collection[context.name].body for context in parser.contexts.values()}
        try:
            program.core.unparsed[:] = checked_words(program.core.unparsed, parser.contexts, bodies, parser.initial)
        except UserError as error:
            raise Exit(f"error: {error}", code=UserError.exit_code) from None
        return parser

    program._make_parser = checking_parser
    program.parse_tasks = _usage_errors_exit_2(program.parse_tasks, invocation)
    program.parse_cleanup = _usage_errors_exit_2(program.parse_cleanup, invocation)
    program.strict_command_line = True
