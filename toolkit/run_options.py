"""A test run's command line, declared once: `invoke test.kernel`, `test.fs`, `test.all` and `test.matrix` (which
`nox -s kernel-matrix` runs) are all made from `RunOptions` and the options of the domains each can run, so they
share every flag's name, help, default and checks (`--kernel` on one VM, the matrix's `--kernels`, `--jobs` and
`--hosts`, aside); a command offers only the flags of its domains.
Declaring loads only the domains' declarations; what a command line asks for is checked by run_request.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit import debug_tiers, domains, kernels, settings_help
from toolkit.domains.declaration import Declaration
from toolkit.domains.options import Flag, flags, merged_flags, option

if TYPE_CHECKING:
    from toolkit.run_request import Request

EVERY_LINE = ",".join(line.name for line in kernels.CATALOGUE)
KERNEL_HELP = (
    f"kernel line, by version or Debian suite: {', '.join(line.name for line in kernels.CATALOGUE)}; "
    "<line>-debug once `kernel.build` made it"
)
PROVIDER_HELP = "qemu (default) or vagrant"
KERNEL_TREE_HELP = (
    "a kernel source tree to build (out of the tree, cached by its revision and config) and run as the line "
    "tree-<version>-<key>: the VM's kernel in place of --kernel; in a matrix, a line added to --kernels"
)
KERNEL_IMAGE_HELP = (
    "a ready kernel's .deb packages (linux-image, linux-headers and the linux-kbuild/-common they need), as files "
    "or folders of them, repeated or comma-separated, run as the line image-<version>-<key>: like --kernel-tree"
)
DEBUG_HELP = (
    f"debug tier the guest boots with: {', '.join(f'{t.name} ({t.summary})' for t in debug_tiers.TIERS.values())}; "
    f"default {debug_tiers.DEFAULT}"
)


def quick_help(chosen: Sequence[Declaration]) -> str:
    """--quick's help, with what it changes in each of the chosen domains."""
    changes = "; ".join(f"{domain.name}: {', '.join(f'{option} {value:g}' for option, value in domain.quick.items())}"
                        for domain in chosen if domain.quick)  # fmt: skip
    return f"the fast edit-verdict loop: fewer rounds, shorter watches, the same detectors ({changes})"


QUICK_HELP = quick_help(list(domains.declared().values()))


@dataclass(frozen=True)
class RunOptions:
    """Where and how a run's domains go; each domain declares what it is told itself."""

    kernel: str | None = option(None, KERNEL_HELP)
    kernels: str | None = option(None, "comma-separated kernel lines, by version or Debian suite")
    kernel_tree: str | None = option(None, KERNEL_TREE_HELP)
    kernel_image: tuple[str, ...] = option((), KERNEL_IMAGE_HELP)
    domains: str | None = option(None, f"comma-separated domains to run on each VM: {', '.join(domains.declared())}")
    name: str | None = option(
        None, "VM name (several can run side by side); a matrix run calls each line's VM matrix-NAME-LINE "
        "(without --name: matrix-LINE)"
    )  # fmt: skip
    provider: str | None = option(None, PROVIDER_HELP)
    debug: str | None = option(None, DEBUG_HELP)
    only: str | None = option(
        None, "comma-separated tests to run, with the tests they need (e.g. memory_leak runs build, load, unload too)"
    )
    repeat: int | None = option(
        None, "run the tests N times on the warm VM: a test red in some runs but not all is reported flaky, with its "
        "rate (default 1)", minimum=1, maximum=1000,  # each round runs every chosen test again: hours by then
    )  # fmt: skip
    retry: int | None = option(
        None, "run a failed or errored test again, up to N times until it passes, each time on a guest rolled back "
        "to its ready snapshot after what it needs: red every time stays failed, red some times is flaky, with its "
        f"rate (a flaky test fails the run too); default {settings_help.RETRY_IN_CI} in CI "
        f"(${' or $'.join(settings_help.CI_VARIABLES)} set), "
        "where a one-off red costs a pipeline, else 0, where you want the first red fast; the retry setting "
        "overrides both; not with --repeat", minimum=0, maximum=settings_help.MAX_RETRY,
    )  # fmt: skip
    quick: bool = option(False, QUICK_HELP)
    jobs: int | None = option(
        None, "VMs at once (default: what CPUs and memory allow; more share the CPUs)", minimum=1,
        maximum=64,  # far more than the catalogue has lines, each of which runs on one VM
    )  # fmt: skip
    hosts: str | None = option(
        None, "comma-separated libvirt URIs to spread the lines over (vagrant provider; default: libvirt_uri); "
        "each runs as many VMs at once as its CPUs and memory allow"
    )  # fmt: skip


@dataclass(frozen=True)
class RunCommand:
    """A command that starts a run: which run options it offers and its defaults."""

    invocation: str  # how it is typed, for messages
    run_options: tuple[str, ...]
    defaults: Mapping[str, Any]
    domain_names: tuple[str, ...] = ()  # the domains it can run, whose flags it offers (none named: every one)

    def offered(self) -> list[Declaration]:
        return [
            declaration
            for name, declaration in domains.declared().items()
            if not self.domain_names or name in self.domain_names
        ]

    def flags(self) -> list[Flag]:
        """Its flags in the order help lists them: the run's, then those of each domain it can run."""
        offered = self.offered()
        run = [dataclasses.replace(flag, default=self.defaults.get(flag.field, flag.default),
                                   help=quick_help(offered) if flag.field == "quick" else flag.help)
               for flag in flags(RunOptions) if flag.field in self.run_options]  # fmt: skip
        return [*run, *merged_flags([domain.options for domain in offered])]

    def request(self, values: Mapping[str, Any], config_file: Path | None) -> Request:
        """values (by field name, None: not given) checked and turned into what the pipeline takes; a UserError else."""
        from toolkit import run_request  # the settings, domains and kernels it checks: loaded as a run starts

        return run_request.request(self, values, config_file)


ONE_DOMAIN = ("kernel", "kernel_tree", "kernel_image", "name", "provider", "debug", "only", "repeat", "retry",
              "quick")  # fmt: skip
TEST_KERNEL = RunCommand("invoke test.kernel", ONE_DOMAIN, {"domains": "kernel_module", "name": "default"},
                         ("kernel_module",))  # fmt: skip
TEST_FS = RunCommand("invoke test.fs", ONE_DOMAIN, {"domains": "filesystem", "name": "default"}, ("filesystem",))
TEST_ALL = RunCommand(
    "invoke test.all", ("domains", *ONE_DOMAIN), {"domains": ",".join(domains.declared()), "name": "default"}
)
MATRIX = RunCommand(
    "nox -s kernel-matrix --",
    ("kernels", "kernel_tree", "kernel_image", "domains", "name", "provider", "debug", "only", "repeat", "retry",
     "quick", "jobs", "hosts"),
    {"kernels": EVERY_LINE, "domains": ",".join(domains.declared())},
)  # fmt: skip
BISECT = RunCommand("invoke bisect", ("kernel", "name", "provider", "debug", "only", "quick"),
                    {"domains": "kernel_module", "name": "default"}, ("kernel_module",))  # fmt: skip
