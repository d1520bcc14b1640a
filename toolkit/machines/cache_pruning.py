"""What the cache no longer needs, removed: boxes no VM uses, outdated kernel builds, what killed builds left."""

from __future__ import annotations

from toolkit import kernels
from toolkit.boxes import store
from toolkit.boxes import vagrant as vagrant_box
from toolkit.boxes.recipe import BoxRecipe
from toolkit.config import Settings
from toolkit.machines.box_supply import stale_kernel_builds
from toolkit.machines.registry import names, open_existing


def prune_cache(settings: Settings) -> list[str]:
    """Remove what the cache no longer needs; one line for each thing removed.

    Boxes of an older recipe (after a toolkit upgrade) no VM of this installation uses, kernel builds
    for no current variant, half-built boxes of killed builds and the build logs of boxes gone.
    """
    removed = [f"half-built box {name}" for name in store.remove_abandoned_builds(settings.cache_dir)]
    removed += [
        f"outdated kernel build {path.relative_to(settings.cache_dir)}" for path in stale_kernel_builds(settings)
    ]
    current = {BoxRecipe(line).name for line in kernels.every_line()}
    used = {open_existing(settings, name).record.box for name in names(settings)}
    for box in store.list_boxes(settings.cache_dir):
        if box.name not in current and str(box.path) not in used:
            vagrant_box.remove(box)
            store.remove(box)
            removed.append(f"stale box {box.name} (kernel {box.kernel_line})")
    logs = store.remove_logs_of_gone_boxes(settings.cache_dir, settings.cache_dir / "logs")
    return removed + [f"build log of box {name}, which is gone" for name in logs]
