"""Settings: defaults, the user's vmtest.toml, the project's vmtest.toml, VEXFS_* variables, flags; later wins.

The user's file is `$XDG_CONFIG_HOME/vexfs-vmtest/vmtest.toml` (`~/.config/...`). The project's is
the one `--config FILE` or VEXFS_CONFIG names, else the nearest `vmtest.toml` in the working
directory or above it. A relative path in a file is relative to that file's folder, in a
variable or a flag to the working directory. Results go to `results_dir`, by default `results/`
beside the project's file, else the checkout's `results/` (the toolkit run from its checkout),
else `$XDG_DATA_HOME/vexfs-vmtest/results`. Every value remembers where it came from
(`invoke config.show`).

Every layer is read strictly: a TOML value must have its setting's type (whole numbers for
counts, no booleans, floats only for seconds, strings for names and paths, a list of strings for
module_params), and text (the environment, flags) must spell one (a list as a shell splits words:
shlex). A path is never empty. Nothing is rounded or guessed.

A module repository's own test setup (module_dir, module_params, workload) is the default of the
run's domain options of those names (toolkit/run_options.py); unset, each domain keeps its own.
"""

from __future__ import annotations

import difflib
import errno
import math
import os
import re
import shlex
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from toolkit import debug_tiers, host_checks, host_tools, kernels, known_failures
from toolkit.errors import UserError
from toolkit.known_failures import KnownFailure
from toolkit.settings_help import CI_VARIABLES, CONFIG_FILE, MAX_RETRY, RETRY_IN_CI

ENV_PREFIX = "VEXFS_"
CONFIG_VARIABLE = "VEXFS_CONFIG"  # names the project's file, like --config
DEFAULT = "default"
COMMAND_LINE = "command line"
# The folder holding the toolkit's package when it runs from its checkout (editable install), not an installation.
CHECKOUT = Path(__file__).resolve().parents[1]
# The providers toolkit/machines/providers.py picks (named here too, so a setting is checked before anything starts).
PROVIDERS = ("qemu", "vagrant")
# Variables the toolkit sets itself for the Vagrantfile (toolkit/machines/vagrant/provider.py `_environment`)
# besides the settings: found in the environment they are not a typo.
VAGRANT_VARIABLES = (
    "VEXFS_BOX", "VEXFS_DEBUG_ARGS", "VEXFS_LIBVIRT_DRIVER", "VEXFS_SSH_KEY", "VEXFS_VM_DIR", "VEXFS_VM_NAME",
    "VEXFS_CONSOLE", "VEXFS_KERNEL", "VEXFS_INITRD", "VEXFS_PROXY_COMMAND",
)  # fmt: skip
WHOLE = re.compile(r"-?[0-9]+")
NUMBER = re.compile(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)")
# Bounds of the numbers on any host; whether this host (or a libvirt host) can run a VM so big is checked when
# a command is about to start one (toolkit/host_capacity.py).
MAX_CPUS = 64  # vCPUs of a test VM: more only slow its boot down
MAX_MEMORY_MIB = 2**20  # 1 TiB
MAX_SECONDS = 86_400.0  # a timeout of more than a day is a typo
FOLDERS = ("cache_dir", "state_dir", "results_dir")


def _xdg(environ: Mapping[str, str], variable: str, fallback: str) -> Path:
    return Path(environ.get(variable) or Path.home() / fallback) / "vexfs-vmtest"


@dataclass(frozen=True)
class Settings:
    """Everything a run can be told; each field can come from file, env or flag."""

    cache_dir: Path
    state_dir: Path
    results_dir: Path
    mirror: str = "http://deb.debian.org/debian"
    kernel: str = kernels.DEFAULT
    provider: str = "qemu"
    libvirt_uri: str = "qemu:///system"
    cpus: int = 2
    memory_mib: int = 2048
    boot_timeout_s: float = 180.0
    command_timeout_s: float = 600.0
    debug: str = debug_tiers.DEFAULT
    retry: int = 0  # times a red test is run again on a restored guest (toolkit/domains/retries.py); 2 in CI
    # A module repository's test setup: defaults of the run's domain options (toolkit/run_options.py).
    module_dir: Path | None = None
    module_params: tuple[str, ...] = ()
    workload: Path | None = None
    # The tests it is expected to fail: the file's [[known_failure]] tables, never a variable or flag.
    known_failures: tuple[KnownFailure, ...] = ()

    def validate(self) -> Settings:
        """Check values against their limits and catalogues, and the folders, before anything is started or
        written."""
        if self.provider not in PROVIDERS:
            raise UserError(f"unknown provider {self.provider!r}: choose one of {', '.join(PROVIDERS)}")
        if self.cpus < 1:
            raise UserError(f"cpus must be at least 1, got {self.cpus}: fix {CONFIG_FILE} or {ENV_PREFIX}CPUS")
        if self.cpus > MAX_CPUS:
            raise UserError(
                f"cpus {self.cpus} is too many: a test VM gets at most {MAX_CPUS} vCPUs (more only slow its boot "
                f"down): set cpus to {MAX_CPUS} or fewer in {CONFIG_FILE} or {ENV_PREFIX}CPUS"
            )
        if self.memory_mib < 512:
            raise UserError(
                f"memory_mib must be at least 512, got {self.memory_mib}: fix {CONFIG_FILE} or {ENV_PREFIX}MEMORY_MIB"
            )
        if self.memory_mib > MAX_MEMORY_MIB:
            raise UserError(
                f"memory_mib {self.memory_mib} is too much: a test VM gets at most {MAX_MEMORY_MIB} MiB (1 TiB): "
                f"lower memory_mib in {CONFIG_FILE} or {ENV_PREFIX}MEMORY_MIB"
            )
        for name in ("boot_timeout_s", "command_timeout_s"):
            seconds = getattr(self, name)
            if not (math.isfinite(seconds) and seconds > 0):
                raise UserError(
                    f"{name} must be a positive number of seconds, got {seconds}: "
                    f"fix {CONFIG_FILE} or {ENV_PREFIX}{name.upper()}"
                )
            if seconds > MAX_SECONDS:
                raise UserError(
                    f"{name} {seconds:g} is more than a day: give at most {MAX_SECONDS:g} seconds in {CONFIG_FILE} "
                    f"or {ENV_PREFIX}{name.upper()}"
                )
        if not 0 <= self.retry <= MAX_RETRY:
            raise UserError(
                f"retry must be 0 to {MAX_RETRY} (times a red test runs again), got {self.retry}: "
                f"fix {CONFIG_FILE} or {ENV_PREFIX}RETRY"
            )
        kernels.select(self.kernel)
        debug_tiers.select(self.debug)
        for name in FOLDERS:
            _require_folder(name, getattr(self, name))
        for name in ("module_dir", "workload"):
            _require_usable_path(name, getattr(self, name))
        return self


def _require_folder(name: str, path: Path) -> None:
    """path is a directory that files can be written in, or can become one: no file stands where it or a parent
    of it should be, and the nearest existing one is writable and not the kernel's pseudo-filesystem."""
    fix = f"point {name} in {CONFIG_FILE} (or {ENV_PREFIX}{name.upper()}) at a directory you can write"
    if "\0" in str(path):
        raise UserError(f"{name} {str(path)!r} cannot be used (a path holds no NUL character): {fix}")
    try:
        place = host_checks.nearest_existing(path)
        if not place.is_dir():
            what = "is a file" if place == path else f"cannot be made: {place} is a file"
            raise UserError(f"{name} {path} {what}: {fix}")
        reason = host_checks.unwritable_reason(place)
    except OSError as error:  # a name too long, a folder this user may not look into
        reason = getattr(error, "strerror", None) or str(error)
        raise UserError(f"{name} {path} cannot be used ({reason}): {fix}") from None
    if reason:
        raise UserError(f"{name} {path} cannot be written: {reason}: {fix}")


def _require_usable_path(name: str, path: Path | None) -> None:
    """path (when set) can be looked up at all: whether it exists is for the run to say (a flag may replace it)."""
    if path is None:
        return
    fix = f"fix {name} in {CONFIG_FILE} (or {ENV_PREFIX}{name.upper()})"
    if "\0" in str(path):
        raise UserError(f"{name} {str(path)!r} cannot be used (a path holds no NUL character): {fix}")
    try:
        path.stat()
    except OSError as error:  # a name too long, a folder this user may not look into
        if error.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise UserError(f"{name} {path} cannot be used ({error.strerror}): {fix}") from None


# Each setting's type as its annotation spells it: int, float, str, Path, Path | None, tuple[str, ...]; the known
# failures are tables of a file, read by toolkit/known_failures.py.
KINDS = {field.name: str(field.type) for field in fields(Settings) if field.name != "known_failures"}
PATHS = ("Path", "Path | None")
LIST = "tuple[str, ...]"
WHAT = {
    "int": "a whole number",
    "float": "a number",
    "str": "a string",
    "Path": "a string (a path)",
    "Path | None": "a string (a path)",
    LIST: "a list of strings",
}
# Each setting's value and where it came from: "default", a file's path, a variable's name, "command line".
Values = dict[str, tuple[Any, str]]


@dataclass(frozen=True)
class Effective:
    """The settings in force, where each value came from, and the settings files read (in order)."""

    settings: Settings
    origins: Mapping[str, str]
    files: tuple[Path, ...]

    def rows(self) -> list[dict[str, str]]:
        """Each setting, its value and where it came from, in declaration order (`config.show --json`)."""
        return [{"setting": name, "value": _shown(getattr(self.settings, name)), "from": self.origins[name]}
                for name in KINDS]  # fmt: skip


def _shown(value: object) -> str:
    """A setting's value as text: nothing for one not set, a list as the shell words VEXFS_MODULE_PARAMS takes."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return shlex.join(value)
    return str(value)


def _example(name: str) -> str:
    default = next(field.default for field in fields(Settings) if field.name == name)
    if KINDS[name] == LIST:
        return "NAME=VALUE"
    return "PATH" if default is MISSING or default is None else str(default)


def _anchored(name: str, value: Any, base: Path) -> Any:
    """A path setting made absolute against base (a file's folder, or the working directory)."""
    return base / value.expanduser() if KINDS[name] in PATHS else value


class BadPath(ValueError):
    """A path setting's text that names no path, saying why: "" (Path("") would be the folder it is relative to),
    `~name/...` of no user."""


def _path(text: str) -> Path:
    if not text:
        raise BadPath("is an empty path")
    try:
        Path(text).expanduser()
    except RuntimeError:  # ~name of no user
        raise BadPath(f"starts with the home of an unknown user ({text.split('/')[0]})") from None
    return Path(text)


def _typed(name: str, value: object) -> Any:
    """value when it has the setting's type exactly (a TOML value, a flag given as a number), else ValueError."""
    kind = KINDS[name]
    if kind == "int" and type(value) is int:
        return value
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind in ("str", *PATHS) and isinstance(value, str):
        return _path(value) if kind in PATHS else value
    if kind == LIST and isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ValueError(name)


def _spelled(name: str, text: str) -> Any:
    """The setting's value spelled as text (environment, flags), else ValueError: `2.7` is no count, a list is
    words as a shell splits them (`bug=none 'name="a b"'`)."""
    kind = KINDS[name]
    if kind == "int":
        if not WHOLE.fullmatch(text):
            raise ValueError(name)
        return int(text)
    if kind == "float":
        if not NUMBER.fullmatch(text):
            raise ValueError(name)
        return float(text)
    if kind == LIST:
        return tuple(shlex.split(text))  # a quote left open: ValueError
    return _path(text) if kind in PATHS else text


def _toml(value: object) -> str:
    """value written as TOML (a message's suggestion)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(_toml, value)) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + " }"
    return str(value)


def _bare(item: object) -> str | None:
    """A TOML scalar as the string it most likely meant ("a" as a, 4 as 4, true as true); None for a list or table."""
    if isinstance(item, (list, dict)):
        return None
    return item if isinstance(item, str) else _toml(item)


def _as_strings(value: object) -> list[str] | None:
    """The list of strings a value of another type most likely meant: `"a=1"`, `{ a = 1 }` or `["a=1", 2]`."""
    if isinstance(value, dict):
        named = [(f"{key}=", item) for key, item in value.items()]
    elif isinstance(value, (list, str)):
        named = [("", item) for item in (value if isinstance(value, list) else [value])]
    else:
        return None
    texts = [key + text for key, item in named if (text := _bare(item)) is not None]
    return texts if len(texts) == len(named) else None


def _require_known(names: Mapping[str, object], origin: str, in_file: bool = False) -> None:
    unknown = sorted(set(names) - set(KINDS))
    if unknown:
        tables = f" and [[{known_failures.KEY}]] tables" if in_file else ""
        raise UserError(
            f"unknown setting {unknown[0]!r} in {origin}: known settings are {', '.join(sorted(KINDS))}{tables}"
        )


def _written(text: str, name: str) -> str | None:
    """How `name = ...` is written in a TOML file's text, as the user typed it (5.10, not 5.1)."""
    found = re.search(rf"^\s*{re.escape(name)}\s*=\s*(.*?)\s*(#.*)?$", text, re.MULTILINE)
    return found.group(1) if found else None


def _file_value(name: str, value: object, path: Path, text: str) -> Any:
    try:
        return _anchored(name, _typed(name, value), path.parent)
    except BadPath as why:
        raise UserError(
            f"{name} = {_toml(value)} in {path} {why}: write a path, relative to {path.parent} or absolute, "
            f'e.g. {name} = "{_example(name)}", or leave {name} out'
        ) from None
    except ValueError:
        written = _written(text, name) or repr(value)
        if KINDS[name] == LIST:
            meant = _as_strings(value) or [_example(name)]
            written = _toml(value) if isinstance(value, (list, dict)) else written
            how = f"write a list of quoted strings, e.g. {name} = {_toml(meant)}"
        elif KINDS[name] in ("int", "float"):
            how = f"write {WHAT[KINDS[name]]}, e.g. {name} = {_example(name)}"
        else:
            quoted = written if isinstance(value, (int, float)) else _example(name)
            how = f'write it as a string: {name} = "{quoted}"'
        raise UserError(f"{name} = {written} in {path} is not {WHAT[KINDS[name]]}: {how}") from None


def _from_file(path: Path) -> Values:
    try:
        text = path.read_text()
        values = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not valid TOML ({error}): fix or remove it") from None
    except OSError as error:
        raise UserError(f"cannot read {path} ({error.strerror}): fix its permissions or remove it") from None
    entries = values.pop(known_failures.KEY, None)
    _require_known(values, str(path), in_file=True)
    found = {name: (_file_value(name, value, path, text), str(path)) for name, value in values.items()}
    if entries is not None:
        found["known_failures"] = (known_failures.parse(entries, path), str(path))
    return found


def user_file(environ: Mapping[str, str]) -> Path:
    """The user's own settings file, whichever project they are in."""
    return Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "vexfs-vmtest" / CONFIG_FILE


def project_file(chosen: Path | None, environ: Mapping[str, str], cwd: Path) -> Path | None:
    """The project's settings file: the one chosen (--config, else VEXFS_CONFIG), else the nearest vmtest.toml
    in cwd or above it; None when there is none. A chosen file must exist."""
    named, how = (chosen, "--config") if chosen is not None else (environ.get(CONFIG_VARIABLE), CONFIG_VARIABLE)
    if named:
        path = cwd / Path(named).expanduser()
        if not path.is_file():
            raise UserError(f"{how} {named}: no such settings file ({path}): give an existing {CONFIG_FILE}")
        return path
    return next((folder / CONFIG_FILE for folder in (cwd, *cwd.parents) if (folder / CONFIG_FILE).is_file()), None)


def _variable(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


def _env_value(variable: str, name: str, text: str) -> Any:
    try:
        return _spelled(name, text)
    except BadPath as why:
        raise UserError(
            f"{variable}={text!r} in the environment {why}: set it to a path, e.g. {variable}={_example(name)}, "
            "or unset it"
        ) from None
    except ValueError as error:
        if KINDS[name] == LIST:
            raise UserError(
                f"{variable}={text!r} in the environment is not words a shell can split ({error}): separate the "
                f"items with spaces, quoting one as a shell would, e.g. {variable}='bug=none size=4'"
            ) from None
        raise UserError(
            f"{variable}={text!r} in the environment is not {WHAT[KINDS[name]]}: "
            f"set it to one, e.g. {variable}={_example(name)}"
        ) from None


def _setting(variable: str) -> str | None:
    """The setting a VEXFS_* variable names (VEXFS_CPUS: cpus), None for any other variable."""
    name = variable[len(ENV_PREFIX) :].lower()
    return name if variable.startswith(ENV_PREFIX) and name in KINDS else None


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """VEXFS_* variables that are neither a setting, nor VEXFS_CONFIG or VEXFS_OS_RELEASE, nor one the toolkit sets
    for Vagrant: typos, most likely."""
    known = (CONFIG_VARIABLE, host_tools.OS_RELEASE_VARIABLE, *VAGRANT_VARIABLES)
    return sorted(key for key in environ if key.startswith(ENV_PREFIX) and _setting(key) is None and key not in known)


def _unknown_warning(unknown: list[str]) -> str:
    known = sorted(_variable(name) for name in KINDS)
    guesses = [guess for key in unknown for guess in difflib.get_close_matches(key, known, n=1)]
    meant = f" (did you mean {', '.join(guesses)}?)" if guesses else ""
    return f"ignoring {', '.join(unknown)}: not a setting{meant}; known ones are {', '.join(known)}"


def _from_env(environ: Mapping[str, str], cwd: Path, warn: Callable[[str], None]) -> Values:
    unknown = unknown_variables(environ)
    if unknown:
        warn(_unknown_warning(unknown))
    settings = {key: name for key in environ if (name := _setting(key))}
    return {name: (_anchored(name, _env_value(key, name, environ[key]), cwd), key) for key, name in settings.items()}


def _flag_value(name: str, value: object) -> Any:
    try:
        return _spelled(name, value) if isinstance(value, str) else _typed(name, value)
    except BadPath as why:
        raise UserError(f"{name} {value!r} on the command line {why}: give a path, e.g. {_example(name)}") from None
    except ValueError:
        raise UserError(
            f"{name} {value!r} on the command line is not {WHAT[KINDS[name]]}: give one, e.g. {_example(name)}"
        ) from None


def _from_flags(flags: Mapping[str, Any], cwd: Path) -> Values:
    given = {name: value for name, value in flags.items() if value is not None}
    _require_known(given, "the command line")
    return {name: (_anchored(name, _flag_value(name, value), cwd), COMMAND_LINE) for name, value in given.items()}


def _defaults(environ: Mapping[str, str]) -> Values:
    values: Values = {
        field.name: (field.default, DEFAULT) for field in fields(Settings) if field.default is not MISSING
    }
    values["cache_dir"] = (_xdg(environ, "XDG_CACHE_HOME", ".cache"), f"{DEFAULT} ($XDG_CACHE_HOME or ~/.cache)")
    values["state_dir"] = (
        _xdg(environ, "XDG_STATE_HOME", ".local/state"),
        f"{DEFAULT} ($XDG_STATE_HOME or ~/.local/state)",
    )
    ci = next((variable for variable in CI_VARIABLES if environ.get(variable)), None)
    if ci:
        values["retry"] = (RETRY_IN_CI, f"{DEFAULT} (in CI: ${ci} is set)")
    return values


def default_results_dir(project: Path | None, environ: Mapping[str, str]) -> tuple[Path, str]:
    """Where results go when no layer says: beside the project's file, else in the checkout, else in the user's data."""
    if project is not None:
        return project.parent / "results", f"{DEFAULT} (beside {project})"
    if (CHECKOUT / "tasks.py").is_file() and (CHECKOUT / "pyproject.toml").is_file():
        return CHECKOUT / "results", f"{DEFAULT} (the checkout's results/)"
    return _xdg(environ, "XDG_DATA_HOME", ".local/share") / "results", f"{DEFAULT} ($XDG_DATA_HOME or ~/.local/share)"


def warn_on_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def effective(
    flags: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    warn: Callable[[str], None] = warn_on_stderr,
) -> Effective:
    """Settings from every layer, later layers winning (flags set to None are ignored), with their origins."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    project = project_file(config_file, environ, cwd)
    user = user_file(environ)
    files = tuple(dict.fromkeys(path for path in (user if user.is_file() else None, project) if path is not None))
    values = _defaults(environ)
    for path in files:
        values |= _from_file(path)
    values |= _from_env(environ, cwd, warn)
    values |= _from_flags(flags or {}, cwd)
    values.setdefault("results_dir", default_results_dir(project, environ))
    settings = Settings(**{name: value for name, (value, _) in values.items()}).validate()
    return Effective(settings, {name: origin for name, (_, origin) in values.items()}, files)


def load(
    flags: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    warn: Callable[[str], None] = warn_on_stderr,
) -> Settings:
    """The settings in force (see `effective`)."""
    return effective(flags, config_file, environ, cwd, warn).settings
