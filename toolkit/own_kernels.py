"""Kernels the user brings to a run: a source tree (`--kernel-tree`) or a ready kernel's packages (`--kernel-image`).

Each is a kernel line of its own, named by what it is: `tree-<version>-<key>` (key: the tree's revision and
configuration), `image-<version>[-<Debian mark>]-<key>` (key: the packages' content). kernels.select knows such a
name and the suite nearest its version, whose stock box lends the userland. The line's box is that box with the
kernel's packages in place of Debian's (box_supply); the packages come from what this process was given, found
here by the line's name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from toolkit.boxes import kernel_image, kernel_tree
from toolkit.config import Settings
from toolkit.errors import UserError
from toolkit.kernels import KernelLine

# line name -> how its packages are had (the settings give the cache and the mirror)
_BROUGHT: dict[str, Callable[[Settings], list[Path]]] = {}


def bring(tree: str | None, image: Sequence[str]) -> list[KernelLine]:
    """The lines of the kernels given (a tree, an image), each checked and its packages then found by its name."""
    lines = []
    if tree is not None:
        checked_tree = kernel_tree.inspect(tree)
        lines.append(checked_tree.line)
        _BROUGHT[checked_tree.line.name] = lambda settings: kernel_tree.packages(
            settings.cache_dir, checked_tree, settings.mirror, os.cpu_count() or 1
        )
    if image:
        checked_image = kernel_image.inspect(image)
        lines.append(checked_image.line)
        _BROUGHT[checked_image.line.name] = lambda settings: list(checked_image.packages)
    return lines


def packages(settings: Settings, line: KernelLine) -> list[Path]:
    """The packages of a line brought to this run (a tree's built first unless the cache holds them)."""
    if line.name not in _BROUGHT:
        kind = line.name.split("-", 1)[0]
        raise UserError(f"kernel {line.name} has no box yet and was not given to this command: give --kernel-{kind} "
                        f"with the {'tree' if kind == 'tree' else 'packages'} it names")  # fmt: skip
    return _BROUGHT[line.name](settings)
