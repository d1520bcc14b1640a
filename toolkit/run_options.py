"""A test run's command line, declared once: `invoke test.kernel`, `test.fs`, `test.all` and `test.matrix` (which
`nox -s kernel-matrix` runs) are all made from `RunOptions` and the options of the domains each can run, so they
share every flag's name, help, default and checks (`--kernel` on one VM, the matrix's `--kernels`, `--jobs` and
`--hosts`, aside); a command offers only the flags of its domains.
A module repository's settings (module_dir, module_params, workload in its vmtest.toml) are the defaults of
the domain options they name; a flag given wins. Its known failures name tests of any domain (checked here).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit import config, debug_tiers, domains, kernels, known_failures, user_folders
from toolkit.domains.options import Flag, flags, merged_flags, option, parse
from toolkit.domains.selection import Selection
from toolkit.errors import UserError
from toolkit.kernels import KernelLine
from toolkit.machines import registry
from toolkit.plans import Plan, plan

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


def quick_help(chosen: Sequence[domains.Domain[Any]]) -> str:
    """--quick's help, with what it changes in each of the chosen domains."""
    changes = "; ".join(f"{domain.name}: {', '.join(f'{option} {value:g}' for option, value in domain.quick.items())}"
                        for domain in chosen if domain.quick)  # fmt: skip
    return f"the fast edit-verdict loop: fewer rounds, shorter watches, the same detectors ({changes})"


QUICK_HELP = quick_help(list(domains.registered().values()))


@dataclass(frozen=True)
class RunOptions:
    """Where and how a run's domains go; each domain declares what it is told itself."""

    kernel: str | None = option(None, KERNEL_HELP)
    kernels: str | None = option(None, "comma-separated kernel lines, by version or Debian suite")
    kernel_tree: str | None = option(None, KERNEL_TREE_HELP)
    kernel_image: tuple[str, ...] = option((), KERNEL_IMAGE_HELP)
    domains: str | None = option(None, f"comma-separated domains to run on each VM: {', '.join(domains.registered())}")
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
        f"rate (a flaky test fails the run too); default {config.RETRY_IN_CI} in CI (${' or $'.join(config.CI_VARIABLES)} set), "
        "where a one-off red costs a pipeline, else 0, where you want the first red fast; the retry setting "
        "overrides both; not with --repeat", minimum=0, maximum=config.MAX_RETRY,
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
class Request:
    """A run as a command line asked for it, checked: settings, the domains' plans, lines, VM name, VMs at once."""

    settings: config.Settings
    plans: tuple[Plan, ...]
    lines: tuple[KernelLine, ...]
    name: str | None  # the VM (one line), or the matrix's VM names' middle part
    jobs: int | None
    hosts: tuple[str, ...]  # libvirt hosts to spread a matrix's lines over (none: the configured one)


# The domain options a setting gives the default of (a domain without the option ignores it): option -> setting.
FROM_SETTINGS = {"module_dir": "module_dir", "params": "module_params", "workload": "workload"}


def _given(value: Any) -> bool:
    return value is not None and value is not False and value != () and value != []


def _with_settings(values: Mapping[str, Any], settings: config.Settings) -> dict[str, Any]:
    """values with each domain option not given on the command line taken from its setting when that is set: a
    flag replaces its setting whole (`--module-param` given, none of module_params is kept)."""
    taken = dict(values)
    for option_name, setting in FROM_SETTINGS.items():
        value = getattr(settings, setting)
        if _given(value) and not _given(values.get(option_name)):
            taken[option_name] = value
    return taken


def _left_out(chosen: Sequence[domains.Domain[Any]], values: Mapping[str, Any]) -> list[str]:
    """Domain options given on the command line that no chosen domain takes, as flags."""
    taken = {flag.field for domain in chosen for flag in flags(domain.options)}
    offered = merged_flags([domain.options for domain in domains.registered().values()])
    return [f"--{flag.flag}" for flag in offered if flag.field not in taken and _given(values.get(flag.field))]


def brought_lines(tree: str | None, image: Sequence[str], one_vm: bool, kernel: str | None) -> list[KernelLine]:
    """The lines of the kernels a command line brings (own_kernels.py), checked: one VM runs one kernel, so there
    it takes the place of --kernel and comes alone."""
    from toolkit import own_kernels  # kernel builds and images: loaded when a run starts, not at every command's

    images = tuple(path for text in image for path in text.split(","))
    brought = own_kernels.bring(tree, images)
    if one_vm and brought and kernel is not None:
        raise UserError("--kernel and --kernel-tree/--kernel-image each name the VM's kernel: give one of them")
    if one_vm and len(brought) > 1:
        raise UserError("--kernel-tree and --kernel-image each name the VM's kernel: give one of them, or run both "
                        "with `nox -s kernel-matrix -- --kernel-tree DIR --kernel-image FILE`")  # fmt: skip
    return brought


@dataclass(frozen=True)
class RunCommand:
    """A command that starts a run: which run options it offers and its defaults."""

    invocation: str  # how it is typed, for messages
    run_options: tuple[str, ...]
    defaults: Mapping[str, Any]
    domain_names: tuple[str, ...] = ()  # the domains it can run, whose flags it offers (none named: every one)

    def offered(self) -> list[domains.Domain[Any]]:
        return [
            domain
            for name, domain in domains.registered().items()
            if not self.domain_names or name in self.domain_names
        ]

    def vm_names(self, settings: config.Settings, lines: Sequence[KernelLine], name: str | None) -> list[str]:
        """The VMs a run of these lines uses: one per line for the matrix (`run_machines.matrix_vm`), else the one named;
        a UserError for a name no VM can have (the matrix's given name first, then each VM's whole name)."""
        from toolkit import run_machines  # loaded when a run starts, not at every command's

        if "kernels" not in self.run_options:
            return [registry.checked_new_name(settings, name or "")]
        if name is not None:
            registry.checked_name(settings, name)
        return [registry.checked_name(settings, run_machines.matrix_vm(line, name)) for line in lines]

    def flags(self) -> list[Flag]:
        """Its flags in the order help lists them: the run's, then those of each domain it can run."""
        offered = self.offered()
        run = [dataclasses.replace(flag, default=self.defaults.get(flag.field, flag.default),
                                   help=quick_help(offered) if flag.field == "quick" else flag.help)
               for flag in flags(RunOptions) if flag.field in self.run_options]  # fmt: skip
        return [*run, *merged_flags([domain.options for domain in offered])]

    def request(self, values: Mapping[str, Any], config_file: Path | None) -> Request:
        """values (by field name, None: not given) checked and turned into what the pipeline takes; a UserError else."""
        given = {name: values.get(name) for name in self.run_options if _given(values.get(name))}
        run = parse(RunOptions, {**self.defaults, **given})
        brought = brought_lines(run.kernel_tree, run.kernel_image, one_vm="kernels" not in self.run_options,
                                kernel=run.kernel)  # fmt: skip
        kernel = brought[0].name if brought and "kernels" not in self.run_options else run.kernel
        if run.retry is not None and (run.repeat or 1) > 1:
            raise UserError(
                f"--retry {run.retry} and --repeat {run.repeat}: give one of them: --repeat runs every test N times "
                "to measure how often each fails, --retry runs only a red test again to tell flaky from hard"
            )
        settings = config.load({"kernel": kernel, "provider": run.provider, "debug": run.debug, "retry": run.retry},
                               config_file)  # fmt: skip
        chosen = domains.select_many(run.domains or "")
        left_out = _left_out(chosen, values)
        if left_out:
            raise UserError(
                f"{', '.join(left_out)}: no domain of this run ({', '.join(d.name for d in chosen)}) takes it; "
                f"add its domain with --domains or see `{self.invocation} --help`"
            )
        known_failures.check_tests(
            settings.known_failures, {name: domain.test_names for name, domain in domains.registered().items()}
        )
        known = [name for domain in chosen for name in domain.test_names]
        selection = Selection.parse(run.only, run.repeat, known, settings.retry)
        picked = [domain for domain in chosen if not run.only or selection.cases(domain.cases)]
        options = _with_settings(values, settings)
        plans = tuple(plan(domain.name, options, selection, run.quick) for domain in picked)
        lines = kernels.select_many(run.kernels) if run.kernels is not None else [kernels.select(settings.kernel)]
        lines += [line for line in brought if line not in lines]
        self.vm_names(settings, lines, run.name)
        hosts = tuple(uri.strip() for uri in (run.hosts or "").split(",") if uri.strip())
        if run.hosts is not None and not hosts:
            raise UserError(
                f"--hosts {run.hosts!r} names no libvirt host: give URIs, e.g. --hosts qemu+ssh://build1/system,"
                "qemu:///system, or leave --hosts out for libvirt_uri"
            )
        user_folders.require(settings, writes=user_folders.STARTING_A_VM)  # a run starts VMs: cache, state, results
        return Request(settings, plans, tuple(lines), run.name, run.jobs, hosts)


ONE_DOMAIN = ("kernel", "kernel_tree", "kernel_image", "name", "provider", "debug", "only", "repeat", "retry",
              "quick")  # fmt: skip
TEST_KERNEL = RunCommand("invoke test.kernel", ONE_DOMAIN, {"domains": "kernel_module", "name": "default"},
                         ("kernel_module",))  # fmt: skip
TEST_FS = RunCommand("invoke test.fs", ONE_DOMAIN, {"domains": "filesystem", "name": "default"}, ("filesystem",))
TEST_ALL = RunCommand(
    "invoke test.all", ("domains", *ONE_DOMAIN), {"domains": ",".join(domains.registered()), "name": "default"}
)
MATRIX = RunCommand(
    "nox -s kernel-matrix --",
    ("kernels", "kernel_tree", "kernel_image", "domains", "name", "provider", "debug", "only", "repeat", "retry",
     "quick", "jobs", "hosts"),
    {"kernels": EVERY_LINE, "domains": ",".join(domains.registered())},
)  # fmt: skip
BISECT = RunCommand("invoke bisect", ("kernel", "name", "provider", "debug", "only", "quick"),
                    {"domains": "kernel_module", "name": "default"}, ("kernel_module",))  # fmt: skip
