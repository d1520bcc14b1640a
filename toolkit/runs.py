"""A test run: start the VM, run a domain on it, and keep every result and log as it goes."""

from __future__ import annotations

import datetime
import platform
import shutil
import subprocess
from pathlib import Path

from toolkit import __version__, kernels, machines
from toolkit.config import Settings
from toolkit.domains import kernel_module
from toolkit.domains.kernel_module import ModuleOptions
from toolkit.progress import Progress
from toolkit.results import store
from toolkit.results.records import DomainRun, ModuleInfo, RunRecord


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def host_info() -> dict[str, str]:
    qemu = shutil.which("qemu-system-x86_64")
    version = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout.split("\n")[0] if qemu else ""
    return {
        "hostname": platform.node(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "qemu": version,
    }


def kernel_module_run(settings: Settings, options: ModuleOptions, vm_name: str, results_root: Path) -> RunRecord:
    """Run the kernel_module domain on the VM called vm_name; results are saved after every module."""
    kernel_module.check_constraints(options, settings.memory_mib)
    run_id = store.new_run_id()
    out = store.run_dir(results_root, run_id)
    started = _now()
    machine = machines.define(settings, vm_name)
    progress = Progress(kernels.select(settings.kernel).name)
    with progress.step(f"VM {vm_name} up"):
        machine.up()
    status = machine.status()
    runs: list[DomainRun] = []

    def save() -> RunRecord:
        record = RunRecord(run_id, started, _now(), __version__, host_info(), tuple(runs))
        store.write(results_root, record)
        return record

    try:
        for subject, records in kernel_module.run(machine, options, out / status.kernel_line, progress):
            srcversion = subject.module.srcversion if subject.module else ""
            module = ModuleInfo(subject.name, str(options.source_dir), srcversion)
            runs.append(
                DomainRun(
                    subject.kernel_release,
                    status.kernel_line,
                    machine.provider,
                    status.accel,
                    module,
                    kernel_module.DOMAIN.name,
                    tuple(records),
                )
            )
            save()
    finally:
        logs = out / status.kernel_line / "vm"
        logs.mkdir(parents=True, exist_ok=True)
        for log in machine.log_files():
            if log.exists():
                shutil.copyfile(log, logs / log.name)
        record = save()
    return record
