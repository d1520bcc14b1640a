"""Settings: defaults, then `vmtest.toml`, then VEXFS_* environment, then flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from toolkit.errors import UserError

CONFIG_FILE = "vmtest.toml"
ENV_PREFIX = "VEXFS_"


def _xdg(variable: str, fallback: str) -> Path:
    return Path(os.environ.get(variable) or Path.home() / fallback) / "vexfs-vmtest"


@dataclass(frozen=True)
class Settings:
    """Everything a run can be told; each field can come from file, env or flag."""

    cache_dir: Path
    state_dir: Path
    results_dir: Path = Path("results")
    mirror: str = "http://deb.debian.org/debian"
    kernel: str = "6.1"
    provider: str = "qemu"
    libvirt_uri: str = "qemu:///system"
    cpus: int = 2
    memory_mib: int = 2048
    boot_timeout_s: float = 180.0
    command_timeout_s: float = 600.0

    def validate(self) -> Settings:
        if self.cpus < 1:
            raise UserError(f"cpus must be at least 1, got {self.cpus}: fix {CONFIG_FILE} or {ENV_PREFIX}CPUS")
        if self.memory_mib < 512:
            raise UserError(
                f"memory_mib must be at least 512, got {self.memory_mib}: fix {CONFIG_FILE} or {ENV_PREFIX}MEMORY_MIB"
            )
        for name in ("boot_timeout_s", "command_timeout_s"):
            if getattr(self, name) <= 0:
                raise UserError(f"{name} must be positive: fix {CONFIG_FILE} or {ENV_PREFIX}{name.upper()}")
        return self


def _coerce(name: str, raw: Any, origin: str) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind == "Path":
            return Path(raw).expanduser()
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise UserError(f"{name} = {raw!r} in {origin} is not a valid {kind}: correct it") from None


def _overrides(values: dict[str, Any], origin: str) -> dict[str, Any]:
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(f"unknown setting {unknown[0]!r} in {origin}: known settings are {', '.join(sorted(known))}")
    return {name: _coerce(name, raw, origin) for name, raw in values.items()}


def _from_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        values = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path} is not valid TOML ({error}): fix or remove it") from None
    return _overrides(values, str(path))


def _from_env(environ: dict[str, str]) -> dict[str, Any]:
    known = {f.name for f in fields(Settings)}
    values = {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in environ.items()
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() in known
    }
    return _overrides(values, "the environment")


def load(
    flags: dict[str, Any] | None = None,
    config_file: Path = Path(CONFIG_FILE),
    environ: dict[str, str] | None = None,
) -> Settings:
    """Settings from every layer, later layers winning; flags set to None are ignored."""
    settings = Settings(cache_dir=_xdg("XDG_CACHE_HOME", ".cache"), state_dir=_xdg("XDG_STATE_HOME", ".local/state"))
    settings = replace(settings, **_from_file(config_file))
    settings = replace(settings, **_from_env(dict(os.environ) if environ is None else environ))
    given = {name: value for name, value in (flags or {}).items() if value is not None}
    return replace(settings, **_overrides(given, "the command line")).validate()
