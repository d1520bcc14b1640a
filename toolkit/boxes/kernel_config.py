"""The configuration of a kernel we build: `allnoconfig` + `kvm_guest.config`, then the fragments in kernel/configs/.

Nothing is built that a guest does not need: guest.config lists what the box boots and its userland
uses (machine, virtio devices, filesystems, sockets), all built in, and the interfaces the domains
read; <profile>.config what the profile adds (debug: KASAN, kmemleak, lockdep, fault injection,
UBSAN). An option a kernel version does not know is dropped by Kconfig; `missing` says which ones,
so a build can report them.
"""

from __future__ import annotations

import re
from pathlib import Path

CONFIGS = Path(__file__).with_name("configs")  # kernel/configs/, in the package too (a link in the checkout)
BASE_TARGETS = ("allnoconfig", "kvm_guest.config")
_SETTING = re.compile(r"^(CONFIG_\w+)=(.*)$|^# (CONFIG_\w+) is not set$")


def fragments(profile: str) -> list[Path]:
    return [CONFIGS / "guest.config", CONFIGS / f"{profile}.config"]


def digest_input(profile: str) -> dict[str, str]:
    """What a profile's configuration is made of (what a cache key hashes): the base targets, every fragment's text."""
    return {"base": " ".join(BASE_TARGETS), **{path.name: path.read_text() for path in fragments(profile)}}


def settings(text: str) -> dict[str, str]:
    """Option -> value ("n" for `is not set`) of a .config or a fragment."""
    found = {}
    for line in text.splitlines():
        match = _SETTING.match(line.strip())
        if match:
            set_name, value, unset_name = match.groups()
            found[set_name or unset_name] = value if set_name else "n"
    return found


def missing(requested: dict[str, str], config_text: str) -> list[str]:
    """The requested `=y` options the final .config does not have (unknown to this kernel, or unmet dependencies)."""
    final = settings(config_text)
    return sorted(option for option, value in requested.items() if value == "y" and final.get(option) != "y")


def without_kernel_log(config: Path) -> bool:
    """Whether a kernel's /boot/config-<release> says it was built without a kernel log (CONFIG_PRINTK off);
    False when there is no such file to tell."""
    return config.is_file() and settings(config.read_text(errors="replace")).get("CONFIG_PRINTK") != "y"
