"""A run's command line checked (the flags of run_options.py): the settings, the domains' plans, the kernel lines,
the VM names, as the pipeline takes them; a UserError for anything wrong, before anything starts.

A module repository's settings (module_dir, module_params, workload in its vmtest.toml) are the defaults of
the domain options they name; a flag given wins. Its known failures name tests of any domain (checked here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit import config, domains, kernels, known_failures, own_kernels, run_machines, user_folders
from toolkit.domains.base import Domain
from toolkit.domains.options import flags, merged_flags, parse
from toolkit.domains.selection import Selection
from toolkit.errors import UserError
from toolkit.kernels import KernelLine
from toolkit.machines import registry
from toolkit.plans import Plan, plan
from toolkit.run_options import RunCommand, RunOptions


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


def _left_out(chosen: Sequence[Domain[Any]], values: Mapping[str, Any]) -> list[str]:
    """Domain options given on the command line that no chosen domain takes, as flags."""
    taken = {flag.field for domain in chosen for flag in flags(domain.options)}
    offered = merged_flags([declaration.options for declaration in domains.declared().values()])
    return [f"--{flag.flag}" for flag in offered if flag.field not in taken and _given(values.get(flag.field))]


def brought_lines(tree: str | None, image: Sequence[str], one_vm: bool, kernel: str | None) -> list[KernelLine]:
    """The lines of the kernels a command line brings (own_kernels.py), checked: one VM runs one kernel, so there
    it takes the place of --kernel and comes alone."""
    images = tuple(path for text in image for path in text.split(","))
    brought = own_kernels.bring(tree, images)
    if one_vm and brought and kernel is not None:
        raise UserError("--kernel and --kernel-tree/--kernel-image each name the VM's kernel: give one of them")
    if one_vm and len(brought) > 1:
        raise UserError("--kernel-tree and --kernel-image each name the VM's kernel: give one of them, or run both "
                        "with `nox -s kernel-matrix -- --kernel-tree DIR --kernel-image FILE`")  # fmt: skip
    return brought


def vm_names(
    command: RunCommand, settings: config.Settings, lines: Sequence[KernelLine], name: str | None
) -> list[str]:
    """The VMs a run of these lines uses: one per line for the matrix (`run_machines.matrix_vm`), else the one named;
    a UserError for a name no VM can have (the matrix's given name first, then each VM's whole name)."""
    if "kernels" not in command.run_options:
        return [registry.checked_new_name(settings, name or "")]
    if name is not None:
        registry.checked_name(settings, name)
    return [registry.checked_name(settings, run_machines.matrix_vm(line, name)) for line in lines]


def request(command: RunCommand, values: Mapping[str, Any], config_file: Path | None) -> Request:
    """values (by field name, None: not given) of command's flags checked and turned into what the pipeline takes;
    a UserError else."""
    given = {name: values.get(name) for name in command.run_options if _given(values.get(name))}
    run = parse(RunOptions, {**command.defaults, **given})
    brought = brought_lines(run.kernel_tree, run.kernel_image, one_vm="kernels" not in command.run_options,
                            kernel=run.kernel)  # fmt: skip
    kernel = brought[0].name if brought and "kernels" not in command.run_options else run.kernel
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
            f"add its domain with --domains or see `{command.invocation} --help`"
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
    vm_names(command, settings, lines, run.name)
    hosts = tuple(uri.strip() for uri in (run.hosts or "").split(",") if uri.strip())
    if run.hosts is not None and not hosts:
        raise UserError(
            f"--hosts {run.hosts!r} names no libvirt host: give URIs, e.g. --hosts qemu+ssh://build1/system,"
            "qemu:///system, or leave --hosts out for libvirt_uri"
        )
    user_folders.require(settings, writes=user_folders.STARTING_A_VM)  # a run starts VMs: cache, state, results
    return Request(settings, plans, tuple(lines), run.name, run.jobs, hosts)
