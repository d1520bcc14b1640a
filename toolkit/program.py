"""The command line: `vexfs-vmtest TASK ...`, `invoke TASK ...` in a checkout and `nox -s kernel-matrix -- ...`
all parse the same tasks (toolkit/tasks/) the same way.

invoke parses; this module only makes its answers the toolkit's, through invoke's public Program methods:
a usage error is one line and exit status 2 (`checked_words` catches what invoke lets through), a task's
help shows each flag's type. `vexfs-vmtest` offers only the core options that mean something here
(help, version, list, completion, the settings file); invoke's options for shell commands are not ours.
`vexfs-vmtest --config FILE TASK` names the settings file for every task, as a task's own --config does.
"""

from __future__ import annotations

import inspect
import os
import shlex
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from invoke import Argument, Collection, ParserContext, Program
from invoke.completion.complete import print_completion_script
from invoke.exceptions import Exit, ParseError

from toolkit import __version__, settings_help
from toolkit.commands import CONFIG_KEY
from toolkit.errors import UserError
from toolkit.tasks import ns

NAME = "vexfs-vmtest"
OUR_CORE_OPTIONS = ("help", "version", "list", "list-format", "list-depth", "complete", "print-completion-script")


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


def _typed(spec: str, metavars: Mapping[str, str]) -> str:
    """A flag's help spec (`-k STRING, --kernel=STRING`) with its value's type where invoke says STRING or nothing."""
    long = next(part for part in spec.split(", ") if part.startswith("--"))
    kind = metavars.get(long.split("=")[0].split("[")[0].removeprefix("--"))
    if kind is None:
        return spec
    return spec.replace("STRING", kind) if "=" in long else spec.replace(long, f"{long}={kind}")


class TaskContexts(Mapping[str, ParserContext]):
    """The invoke parser context of each task of a collection by its name or alias, as `Collection.to_contexts`
    makes them, each made when asked for: the words of a command line name a task or two of dozens."""

    def __init__(self, collection: Collection, ignore_unknown_help: bool | None) -> None:
        self._collection = collection
        self._ignore_unknown_help = ignore_unknown_help
        self._primary = {name: primary for primary, aliases in collection.task_names.items()
                         for name in (primary, *aliases)}  # fmt: skip

    def __contains__(self, name: object) -> bool:
        return name in self._primary

    def __getitem__(self, name: str) -> ParserContext:
        primary = self._primary[name]
        arguments = self._collection[primary].get_arguments(ignore_unknown_help=self._ignore_unknown_help)
        return ParserContext(name=primary, aliases=self._collection.task_names[primary], args=arguments)

    def __iter__(self) -> Iterator[str]:
        return iter(self._primary)

    def __len__(self) -> int:
        return len(self._primary)


class StrictParsing:
    """What makes an invoke Program parse like the toolkit; `strict` gives it to invoke's own program too."""

    def parse_tasks(self: Any) -> None:
        by_name = TaskContexts(self.collection, self.config.tasks.ignore_unknown_help)
        bodies = {primary: self.collection[primary].body for primary in self.collection.task_names}
        try:
            self.core.unparsed[:] = checked_words(self.core.unparsed, by_name, bodies, self.initial_context)
            Program.parse_tasks(self)
        except UserError as error:
            raise Exit(f"error: {error}", code=UserError.exit_code) from None
        except ParseError as error:
            raise Exit(f"error: {_parse_error(error, self.binary_names[0])}", code=UserError.exit_code) from None

    def parse_cleanup(self: Any) -> None:
        try:
            Program.parse_cleanup(self)
        except ParseError as error:
            raise Exit(f"error: {_parse_error(error, self.binary_names[0])}", code=UserError.exit_code) from None

    def print_task_help(self: Any, name: str) -> None:
        """invoke's task help, each flag shown with its value's type (INT, NUMBER, STRING)."""
        task = self.collection[name]
        metavars = getattr(task, "metavars", {})
        rows = [(_typed(spec, metavars), text) for spec, text in self.parser.contexts[name].help_tuples()]
        print(
            f"Usage: {self.binary_names[0]} [--core-opts] {name} {'[--options] ' if rows else ''}[other tasks here ...]\n"
        )
        print("Docstring:")
        for line in (inspect.getdoc(task) or "none").splitlines():
            print(self.leading_indent + line if line.strip() else "")
        print("\nOptions:")
        if rows:
            self.print_columns(rows)
        else:
            print(self.leading_indent + "none")


def strict(program: Program) -> None:
    """Give a Program the toolkit's parsing (invoke's own, which `invoke` runs and tasks.py cannot subclass)."""
    for method in ("parse_tasks", "parse_cleanup", "print_task_help"):
        setattr(program, method, types.MethodType(getattr(StrictParsing, method), program))


class Vmtest(StrictParsing, Program):
    """`vexfs-vmtest`: the tasks, invoke's help/list/completion options and the settings file, nothing else."""

    def core_args(self) -> list[Argument]:
        kept = [argument for argument in super().core_args() if argument.name in OUR_CORE_OPTIONS]
        return [*kept, Argument(names=("config",), help=settings_help.CONFIG_HELP)]

    def parse_core(self, argv: list[str] | None) -> None:
        self.normalize_argv(argv)
        self.parse_core_args()
        if self.args.version.value:
            self.print_version()
            raise Exit
        if self.args["print-completion-script"].value:
            print_completion_script(shell=self.args["print-completion-script"].value, names=self.binary_names)
            raise Exit

    def update_config(self, merge: bool = True) -> None:
        self.config[CONFIG_KEY] = self.args.config.value  # the settings file is ours, not an invoke runtime file
        if merge:
            self.config.merge()


program = Vmtest(namespace=ns, version=__version__, name=NAME, binary=NAME)


def run_task(argv: Sequence[str]) -> int:
    """Run `vexfs-vmtest ARGV` in this process and return its exit status (for nox sessions)."""
    try:
        program.run([NAME, *argv])
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1
    return 0


def main() -> Any:
    try:
        return program.run()
    except BrokenPipeError:  # whoever read the output stopped reading (`| head`): nothing more to say to them
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the exit's flush cannot fail
        return 1
