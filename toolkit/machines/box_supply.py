"""The box a VM starts from: the cache's, built first when the cache lacks it."""

from __future__ import annotations

from pathlib import Path

from toolkit import kernels, own_kernels
from toolkit.boxes import build, kernel_build, store
from toolkit.boxes.recipe import BoxRecipe
from toolkit.config import Settings
from toolkit.errors import UserError


def box_for(settings: Settings, kernel: str) -> store.Box:
    """The box for a kernel line, built first if the cache lacks it (a variant's from its cached kernel build:
    building the kernel is `kernel.build`'s; a kernel the user brought from its packages, a tree's built first)."""
    line = kernels.select(kernel)
    recipe = BoxRecipe(line)
    found = store.find(settings.cache_dir, recipe)
    if not found and line.own:
        base = box_for(settings, kernels.select(line.suite).name)
        debs = own_kernels.packages(settings, line)
        return build.derive(recipe, base, debs, settings.cache_dir, settings.cache_dir / "logs")
    if found or not line.profile:
        return found or build.build(recipe, settings.cache_dir, settings.mirror, settings.cache_dir / "logs")
    base = box_for(settings, line.base.name)
    wanted = kernel_build.for_box(line, base)
    built = kernel_build.find(settings.cache_dir, wanted)
    if built:
        debs = built.debs(kernel_build.debs_dir(settings.cache_dir, wanted))
        return build.derive(recipe, base, debs, settings.cache_dir, settings.cache_dir / "logs")
    raise UserError(
        f"no {line.name} kernel built yet: run `invoke kernel.build --kernel {line.base.name} --profile "
        f"{line.profile}` (about 9 min on 2 cores left to it, cached afterwards)"
    )


def variant_box(settings: Settings, line: kernels.KernelLine, jobs: int) -> store.Box:
    """The box of a built variant line: its stock box, the kernel built from that box's source, the two combined."""
    base = box_for(settings, line.base.name)
    kernel_build.build(kernel_build.for_box(line, base), settings.cache_dir, settings.mirror, jobs)
    return box_for(settings, line.name)


def stale_kernel_builds(settings: Settings) -> list[Path]:
    """Remove kernel builds for no current variant of a cached stock box (older fragments, older sources)."""
    stock = {box.kernel_line: box for box in store.list_boxes(settings.cache_dir)}
    current = {
        kernel_build.for_box(variant, stock[variant.base.name])
        for variant in kernels.every_line()
        if variant.profile and variant.base.name in stock
    }
    return kernel_build.remove_except(settings.cache_dir, current)
