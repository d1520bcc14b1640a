"""Settings: defaults, the user's vmtest.toml, the project's vmtest.toml, VEXFS_* variables, flags; later wins.

The user's file is `$XDG_CONFIG_HOME/vexfs-vmtest/vmtest.toml` (`~/.config/...`). The project's is
the one `--config FILE` or VEXFS_CONFIG names, else the nearest `vmtest.toml` in the working
directory or above it. A relative path in a file is relative to that file's folder, in a
variable or a flag to the working directory. Results go to `results_dir`, by default `results/`
beside the project's file, else the checkout's `results/` (the toolkit run from its checkout),
else `$XDG_DATA_HOME/vexfs-vmtest/results`. Every value remembers where it came from
(`invoke config.show`).

Every layer is read strictly: a TOML value must have its setting's type (whole numbers for
counts, no booleans, floats only for seconds, strings for names and paths), and text (the
environment, flags) must spell one. Nothing is rounded or guessed.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from toolkit import debug as debug_tiers
from toolkit import host, kernels
from toolkit.errors import UserError

CONFIG_FILE = "vmtest.toml"
ENV_PREFIX = "VEXFS_"
CONFIG_VARIABLE = "VEXFS_CONFIG"  # names the project's file, like --config
CONFIG_HELP = f"settings file to use instead of the nearest {CONFIG_FILE} (default: found upward from here)"
DEFAULT = "default"
COMMAND_LINE = "command line"
# The folder holding the toolkit's package when it runs from its checkout (editable install), not an installation.
CHECKOUT = Path(__file__).resolve().parents[1]
# The providers toolkit.machines runs (named here too, so a setting is checked before anything starts).
PROVIDERS = ("qemu", "vagrant")
# Variables the toolkit sets itself for the Vagrantfile (toolkit/machines/vagrant.py `_environment`)
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
        kernels.select(self.kernel)
        debug_tiers.select(self.debug)
        for name in FOLDERS:
            _require_folder(name, getattr(self, name))
        return self


def _require_folder(name: str, path: Path) -> None:
    """path is a directory that files can be written in, or can become one: no file stands where it or a parent
    of it should be, and the nearest existing one is writable and not the kernel's pseudo-filesystem."""
    fix = f"point {name} in {CONFIG_FILE} (or {ENV_PREFIX}{name.upper()}) at a directory you can write"
    if "\0" in str(path):
        raise UserError(f"{name} {str(path)!r} cannot be used (a path holds no NUL character): {fix}")
    try:
        place = host.nearest_existing(path)
        if not place.is_dir():
            what = "is a file" if place == path else f"cannot be made: {place} is a file"
            raise UserError(f"{name} {path} {what}: {fix}")
        reason = host.unwritable_reason(place)
    except OSError as error:  # a name too long, a folder this user may not look into
        reason = getattr(error, "strerror", None) or str(error)
        raise UserError(f"{name} {path} cannot be used ({reason}): {fix}") from None
    if reason:
        raise UserError(f"{name} {path} cannot be written: {reason}: {fix}")


KINDS = {field.name: str(field.type) for field in fields(Settings)}
WHAT = {"int": "a whole number", "float": "a number", "str": "a string", "Path": "a string (a path)"}
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
        return [{"setting": name, "value": str(getattr(self.settings, name)), "from": self.origins[name]}
                for name in KINDS]  # fmt: skip


def _example(name: str) -> str:
    default = next(field.default for field in fields(Settings) if field.name == name)
    return "PATH" if default is MISSING else str(default)


def _anchored(name: str, value: Any, base: Path) -> Any:
    """A path setting made absolute against base (a file's folder, or the working directory)."""
    return base / value.expanduser() if KINDS[name] == "Path" else value


def _typed(name: str, value: object) -> Any:
    """value when it has the setting's type exactly (a TOML value, a flag given as a number), else ValueError."""
    kind = KINDS[name]
    if kind == "int" and type(value) is int:
        return value
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind in ("str", "Path") and isinstance(value, str):
        return Path(value) if kind == "Path" else value
    raise ValueError(name)


def _spelled(name: str, text: str) -> Any:
    """The setting's value spelled as text (environment, flags), else ValueError: `2.7` is no count."""
    kind = KINDS[name]
    if kind == "int":
        if not WHOLE.fullmatch(text):
            raise ValueError(name)
        return int(text)
    if kind == "float":
        if not NUMBER.fullmatch(text):
            raise ValueError(name)
        return float(text)
    return Path(text) if kind == "Path" else text


def _require_known(names: Mapping[str, object], origin: str) -> None:
    unknown = sorted(set(names) - set(KINDS))
    if unknown:
        raise UserError(f"unknown setting {unknown[0]!r} in {origin}: known settings are {', '.join(sorted(KINDS))}")


def _written(text: str, name: str) -> str | None:
    """How `name = ...` is written in a TOML file's text, as the user typed it (5.10, not 5.1)."""
    found = re.search(rf"^\s*{re.escape(name)}\s*=\s*(.*?)\s*(#.*)?$", text, re.MULTILINE)
    return found.group(1) if found else None


def _file_value(name: str, value: object, path: Path, text: str) -> Any:
    try:
        return _anchored(name, _typed(name, value), path.parent)
    except ValueError:
        written = _written(text, name) or repr(value)
        if KINDS[name] in ("int", "float"):
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
    _require_known(values, str(path))
    return {name: (_file_value(name, value, path, text), str(path)) for name, value in values.items()}


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
    except ValueError:
        raise UserError(
            f"{variable}={text!r} in the environment is not {WHAT[KINDS[name]]}: "
            f"set it to one, e.g. {variable}={_example(name)}"
        ) from None


def _setting(variable: str) -> str | None:
    """The setting a VEXFS_* variable names (VEXFS_CPUS: cpus), None for any other variable."""
    name = variable[len(ENV_PREFIX) :].lower()
    return name if variable.startswith(ENV_PREFIX) and name in KINDS else None


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """VEXFS_* variables that are neither a setting, nor VEXFS_CONFIG, nor one the toolkit sets for Vagrant:
    typos, most likely."""
    known = (CONFIG_VARIABLE, *VAGRANT_VARIABLES)
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
