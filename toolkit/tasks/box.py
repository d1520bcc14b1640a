"""box.*: the boxes VMs start from, built offline from Debian's mirror and cached."""

from __future__ import annotations

from invoke import Context

from toolkit.commands import collection, command
from toolkit.errors import UserError
from toolkit.run_options import KERNEL_HELP
from toolkit.tasks.flag_help import JSON_HELP


@command(help={"kernel": KERNEL_HELP})
def box_build(c: Context, kernel: str | None = None) -> None:
    """Build the box for a kernel line offline from Debian's mirror (cached; a no-op when built)."""
    from toolkit.machines import box_supply
    from toolkit.tasks.common import settings, stoppable
    from toolkit.user_folders import CACHE

    found = settings(c, writes=[CACHE], kernel=kernel)
    with stoppable("the half-built box was removed"):
        box = box_supply.box_for(found, found.kernel)
    print(f"box {box.name}: kernel {box.kernel_release} ({box.kernel_package_version}) in {box.path}")


@command(help={"json": JSON_HELP})
def box_list(c: Context, json: bool = False) -> None:
    """List the built boxes."""
    from toolkit.boxes import store
    from toolkit.tasks.common import print_json, settings
    from toolkit.text_tables import table
    from toolkit.user_folders import CACHE

    boxes = [box.describe() for box in store.list_boxes(settings(c, reads=[CACHE]).cache_dir)]
    if json:
        print_json(boxes)
        return
    if not boxes:
        print("no boxes: build one with `invoke box.build`")
        return
    columns = {"kernel_line": "kernel", "suite": "suite", "kernel_release": "release", "kernel_package": "package",
               "size_bytes": "size", "built": "built", "path": "path"}  # fmt: skip
    rows = [[f"{int(b[key]) / 2**20:.0f} MiB" if key == "size_bytes" else b[key] for key in columns] for b in boxes]
    print(table(rows, list(columns.values())))


@command(help={"kernel": KERNEL_HELP})
def box_remove(c: Context, kernel: str | None = None) -> None:
    """Remove the box of a kernel line from the cache (VMs using it must be destroyed first)."""
    from toolkit import kernels
    from toolkit.boxes import store
    from toolkit.boxes import vagrant as vagrant_box
    from toolkit.boxes.recipe import BoxRecipe
    from toolkit.machines import registry
    from toolkit.tasks.common import settings
    from toolkit.user_folders import CACHE, STATE

    found = settings(c, reads=[STATE], writes=[CACHE], kernel=kernel)
    box = store.require(found.cache_dir, BoxRecipe(kernels.select(found.kernel)))
    users = [n for n in registry.names(found) if registry.open_existing(found, n).record.box == str(box.path)]
    if users:
        raise UserError(f"box {box.name} is used by VM(s) {', '.join(users)}: `invoke vm.destroy --name NAME` first")
    vagrant_box.remove(box)
    store.remove(box)
    print(f"removed box {box.name}")


@command()
def box_prune(c: Context) -> None:
    """Remove what the cache no longer needs: stale boxes no VM uses, outdated kernel builds, what killed builds left.

    Stale: built from an older recipe (after a toolkit upgrade). Left: half-built boxes, build logs of boxes gone.
    """
    from toolkit.machines import cache_pruning
    from toolkit.tasks.common import settings
    from toolkit.user_folders import CACHE, STATE

    found = settings(c, reads=[STATE], writes=[CACHE])
    for what in cache_pruning.prune_cache(found):
        print(f"removed {what}")


ns = collection("box", box_build, box_list, box_remove, box_prune)
