"""The folders a command uses, checked before it starts: cache_dir and its boxes, state_dir and its VMs,
results_dir and its runs.

A command names the stores it reads and those it writes. Each store's folder, the folder holding its items,
every item's folder and the files in it the store reads must be this user's to read, and to write when the
command writes there. One that is not (a box built with sudo, a folder made 0700 by another user) is a
UserError naming it, whose it is and how to fix it, before any store meets it as a PermissionError.
Settings.validate has already checked that each folder can be made where it does not exist yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from toolkit import host_checks
from toolkit.config import ENV_PREFIX, Settings
from toolkit.errors import UserError


@dataclass(frozen=True)
class Store:
    """A folder a setting names, the folder in it holding one folder per item, and each item's files."""

    setting: str
    items: str
    files: tuple[str, ...]

    def root(self, settings: Settings) -> Path:
        path: Path = getattr(settings, self.setting)
        return path

    def fix(self, remedy: str) -> str:
        return f"{remedy} or set {ENV_PREFIX}{self.setting.upper()} to a folder of yours"


CACHE = Store("cache_dir", "boxes", ("box.json",))
STATE = Store("state_dir", "vms", ("machine.json", "lock"))
RESULTS = Store("results_dir", ".", ("results.json",))
# What a command that starts a VM writes: the box (built, its ready snapshot taken), the VM's record, the results
# of runs a killed process left (marked abandoned).
STARTING_A_VM = (CACHE, STATE, RESULTS)


def require(settings: Settings, reads: Iterable[Store] = (), writes: Iterable[Store] = ()) -> None:
    """Every store read usable for reading, every store written for writing; a UserError for the first that
    is not."""
    written = set(writes)
    for store in dict.fromkeys([*written, *reads]):
        _require_store(store, settings, store in written)


def _require_store(store: Store, settings: Settings, write: bool) -> None:
    root = store.root(settings)
    for folder in dict.fromkeys([root, root / store.items]):
        _require_usable(store, folder, write, f"make it yours (sudo chown -R $USER {folder})")
    for item in _item_folders(store, root / store.items):
        remedy = f"remove it (sudo rm -rf {item})"
        _require_usable(store, item, write, remedy)
        for name in store.files:
            _require_usable(store, item / name, write, remedy)


def _item_folders(store: Store, folder: Path) -> list[Path]:
    try:
        found = sorted(folder.iterdir()) if folder.is_dir() else []
        return [path for path in found if path.is_dir() and not path.is_symlink()]
    except OSError as error:
        raise UserError(
            f"{store.setting} {folder} cannot be listed ({error.strerror}): {store.fix('fix it')}"
        ) from None


def _require_usable(store: Store, path: Path, write: bool, remedy: str) -> None:
    """path, when it exists, usable by this user; a UserError saying why not and how to fix it."""
    try:
        if not path.exists():
            return
        reason = host_checks.unusable_reason(path, write)
    except OSError as error:
        reason = f"cannot be looked at ({error.strerror})"
    if reason:
        raise UserError(f"{store.setting} {path} {reason}: {store.fix(remedy)}")
