"""Debug tiers: what a guest kernel is told at boot so that memory corruption shows itself.

`lite` works on Debian's stock kernels (every line has SLUB_DEBUG and PAGE_POISONING; 6.12 and
7.x also KFENCE, off unless sampled): slab objects are sanity-checked, red-zoned, poisoned and
tracked (`slub_debug=FZPU`), freed pages poisoned, and KFENCE samples an allocation every
100 ms where the kernel has it. `off` boots the kernel as Debian ships it. A box keeps a ready
snapshot per tier, so neither pays for the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import UserError

# A debug kernel (PROVE_RCU) boots fully preemptible. Booted with the preemption model defconfig gives it
# (PREEMPT_DYNAMIC, voluntary), 6.1-debug hung under TCG in its boot-time "RCU-tasks wait API self tests"
# in 9 of 20 boots, more often the busier the host (timers and irq_work were fine: the grace period
# never ended); with preempt=full it booted 14 of 14 times, and it is the model that shows most races.
FULL_PREEMPTION = ("preempt=full",)
# A kernel with kmemleak boots with SLUB's per-CPU arrays of free objects (sheaves, 7.x) off: a slot keeps an
# object's address after the object is handed out, and kmemleak, scanning the array, takes the object for
# referenced (on 7.x-debug it hid 3-4 of 6 objects a fault sweep's failed loads left, found in an array's slots).
# Any slab debugging flag turns the arrays off; U only records callers, and checks nothing.
SHEAVES_OFF = ("slub_debug=U",)


@dataclass(frozen=True)
class DebugTier:
    name: str
    summary: str
    boot_args: tuple[str, ...] = ()
    kfence_interval_ms: int = 0

    def kernel_args(self, kernel_config: Path) -> list[str]:
        """The tier's boot arguments for a kernel built with kernel_config: KFENCE sampling where the kernel has
        it; none on a KASAN kernel, which checks every access slab debugging and KFENCE would catch later or by
        chance, and would only be slowed down further by them. A kernel with kmemleak has SLUB's sheaves off, and
        one with PROVE_RCU is fully preemptible."""
        kasan = has_option(kernel_config, "CONFIG_KASAN")
        args = [] if kasan else list(self.boot_args)
        if has_option(kernel_config, "CONFIG_DEBUG_KMEMLEAK") and not any(
            arg.startswith("slub_debug=") for arg in args
        ):
            args += SHEAVES_OFF
        if has_option(kernel_config, "CONFIG_PROVE_RCU"):
            args += FULL_PREEMPTION
        if not kasan and self.kfence_interval_ms and has_option(kernel_config, "CONFIG_KFENCE"):
            args.append(f"kfence.sample_interval={self.kfence_interval_ms}")
        return args


TIERS = {
    tier.name: tier
    for tier in (
        DebugTier("off", "Debian's kernel as shipped"),
        DebugTier("lite", "slab debugging, page poisoning, KFENCE sampling", ("slub_debug=FZPU", "page_poison=1"), 100),
    )
}
DEFAULT = "lite"


def select(name: str) -> DebugTier:
    try:
        return TIERS[name]
    except KeyError:
        raise UserError(f"unknown debug tier {name!r}: choose one of {', '.join(TIERS)}") from None


def has_option(kernel_config: Path, option: str) -> bool:
    """Whether a kernel's config file sets option to y."""
    try:
        return f"{option}=y" in kernel_config.read_text().splitlines()
    except OSError:
        return False
