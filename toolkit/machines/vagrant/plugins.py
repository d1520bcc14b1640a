"""Whether Vagrant has a plugin: in the lists it keeps (Debian's packaged plugins, the user's own), else as
`vagrant plugin list` says (a second or more: only when the lists do not have it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

SYSTEM_PLUGINS = Path("/usr/share/vagrant-plugins/plugins.d")  # Debian's: NAME.json for each packaged plugin
LIST_TIMEOUT_S = 120.0


def installed(name: str) -> bool:
    return _listed(name) or _reported(name)


def _listed(name: str) -> bool:
    if (SYSTEM_PLUGINS / f"{name}.json").exists():
        return True
    home = Path(os.environ.get("VAGRANT_HOME") or Path.home() / ".vagrant.d")
    try:
        plugins = json.loads((home / "plugins.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(plugins, dict) and name in plugins.get("installed", {})


def _reported(name: str) -> bool:
    if shutil.which("vagrant") is None:
        return False
    try:
        listing = subprocess.run(["vagrant", "plugin", "list"], capture_output=True, text=True, timeout=LIST_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False
    return any(line.split(" ", 1)[0] == name for line in listing.stdout.splitlines())
