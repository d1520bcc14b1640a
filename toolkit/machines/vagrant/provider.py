"""The vagrant provider: the same box run by vagrant-libvirt through python-vagrant and the
top-level Vagrantfile, commands over one Fabric connection from `vagrant ssh-config`.

The libvirt host may be remote (a qemu+ssh:// URI): its kernel, initrd and console file are then
volumes on that host (libvirt_files.py), and its guests are reached through SSH to it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit import kernels
from toolkit.boxes import vagrant as vagrant_box
from toolkit.config import Settings
from toolkit.files import remove_tree
from toolkit.machines import keys
from toolkit.machines.protocol import CommandResult, GuestUnreachable, MachineError, MachineStatus
from toolkit.machines.recorded_machine import GUEST_USER, RecordedMachine
from toolkit.machines.ssh import SshTarget
from toolkit.machines.vagrant import libvirt_files, libvirt_host
from toolkit.machines.vagrant.libvirt_uri import LibvirtUri
from toolkit.machines.vm_record import VmRecord, save
from toolkit.progress import Progress

if TYPE_CHECKING:
    from toolkit.machines.vagrant.timed_vagrant import TimedVagrant

VAGRANTFILE_DIR = Path(__file__).resolve().parent  # its Vagrantfile is the top-level one (a link in the checkout)
UP_TIMEOUT_S = 900
COMMAND_TIMEOUT_S = 300


class VagrantMachine(RecordedMachine):
    """A VM run by vagrant-libvirt; see the module docstring."""

    provider = "vagrant"
    has_snapshots = False

    def __init__(self, settings: Settings, record: VmRecord) -> None:
        super().__init__(settings, record)
        self._address: str | None = None

    @staticmethod
    def require_host_tools(settings: Settings) -> None:
        libvirt_host.check(settings.libvirt_uri)

    @staticmethod
    def prepare_host(settings: Settings) -> list[str]:
        return libvirt_host.prepare(settings.libvirt_uri, Progress("vagrant"))

    # Vagrant plumbing

    @property
    def domain(self) -> str:
        return f"vexfs-{self.name}"

    @property
    def uri(self) -> str:
        """The libvirt host the VM runs on (recorded when it was made)."""
        return self.record.libvirt_uri or self.settings.libvirt_uri

    @property
    def where(self) -> LibvirtUri:
        return LibvirtUri.parse(self.uri)

    def _environment(self) -> dict[str, str]:
        box = self.box
        return {
            **os.environ,
            "VAGRANT_DOTFILE_PATH": str(self.dir / ".vagrant"),
            "VEXFS_VM_NAME": self.name,
            "VEXFS_VM_DIR": str(self.dir),
            "VEXFS_BOX": vagrant_box.box_name(box),
            "VEXFS_SSH_KEY": str(keys.ensure_key(self.settings.state_dir)),
            "VEXFS_CPUS": str(self.record.cpus),
            "VEXFS_MEMORY_MIB": str(self.record.memory_mib),
            "VEXFS_LIBVIRT_URI": self.uri,
            "VEXFS_PROXY_COMMAND": self.where.proxy_command(),
            "VEXFS_LIBVIRT_DRIVER": "kvm" if self.record.accel == "kvm" else "qemu",
            "VEXFS_DEBUG_ARGS": " ".join(self.debug_args()),
        }

    def _vagrant(self, timeout_s: float = COMMAND_TIMEOUT_S, files: dict[str, str] | None = None) -> TimedVagrant:
        from toolkit.machines.vagrant.timed_vagrant import TimedVagrant, make_file_cm

        log = self.dir / "vagrant.log"
        return TimedVagrant(
            timeout_s, root=str(VAGRANTFILE_DIR), env={**self._environment(), **(files or {})},
            out_cm=make_file_cm(str(log)), err_cm=make_file_cm(str(log)),
        )  # fmt: skip

    def _virsh(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["virsh", "-c", self.uri, *args], capture_output=True, text=True, timeout=120)

    def _vagrant_state(self) -> str:
        try:
            statuses = self._vagrant(60).status(vm_name=self.name)
        except subprocess.CalledProcessError:
            return "unknown"
        return statuses[0].state if statuses else "not_created"

    def _remove_stale_domain(self, progress: Progress) -> None:
        """A libvirt domain of this name that Vagrant does not know (a killed run): remove it."""
        known = (self.dir / ".vagrant" / "machines" / self.name / "libvirt" / "id").exists()
        if not known and self._virsh("dominfo", self.domain).returncode == 0:
            progress.say(f"removing stale libvirt domain {self.domain} left by an earlier run")
            self._virsh("destroy", self.domain)
            self._virsh("undefine", self.domain, "--remove-all-storage", "--nvram")

    def _files_on_host(self, progress: Progress) -> dict[str, str]:
        """The kernel, initrd and console file where libvirt opens them: on a remote host, copies made there."""
        if self.where.local:
            return {}
        with progress.step(f"kernel, initrd and console file on {self.where.host}"):
            kernel, initrd = libvirt_files.boot_files(self.uri, self.box)
            console = libvirt_files.console_path(self.uri, self.domain)
        return {"VEXFS_KERNEL": kernel, "VEXFS_INITRD": initrd, "VEXFS_CONSOLE": console}

    def _last_error(self) -> str:
        log = self.dir / "vagrant.log"
        lines = (
            [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
            if log.exists()
            else []
        )
        errors = [line for line in lines if "Error" in line or "error" in line or "failed" in line]
        return (errors or lines or ["no output"])[-1][:400]

    # the Machine protocol

    def up(self, cold: bool = False) -> None:
        """vagrant up (the box added to Vagrant first), then one SSH connection from its ssh-config."""
        progress = Progress(f"vagrant {self.name}")
        vagrant_box.add(self.box)
        if self._vagrant_state() != "running":
            self._remove_stale_domain(progress)
            self.dir.mkdir(parents=True, exist_ok=True)
            files = self._files_on_host(progress)
            with progress.step(
                f"vagrant up ({kernels.select(self.record.kernel_line).suite}, log: {self.dir / 'vagrant.log'})"
            ):
                try:
                    self._vagrant(UP_TIMEOUT_S, files).up(vm_name=self.name, provider="libvirt")
                except subprocess.CalledProcessError as error:
                    reason = "timed out" if error.returncode == 124 else self._last_error()
                    raise MachineError(f"vagrant up failed: {reason} (log: {self.dir / 'vagrant.log'})") from None
        self._address = None
        self._drop_sessions()
        (self.dir / "ssh_host").write_text(self._ssh_address())
        self._session(sudo=True).connection()

    def _ssh_address(self) -> str:
        """The guest's address: remembered from the last `up`, else asked of Vagrant."""
        remembered = self.dir / "ssh_host"
        if self._address is None and remembered.exists():
            self._address = remembered.read_text().strip()
        if self._address is None:
            try:
                self._address = self._vagrant(60).hostname(vm_name=self.name)
            except subprocess.CalledProcessError:
                raise GuestUnreachable(f"vagrant has no SSH address for {self.name}: is it running?") from None
        return self._address or ""

    def ssh_target(self, user: str = GUEST_USER) -> SshTarget:
        key = keys.ensure_key(self.settings.state_dir)
        return SshTarget(self._ssh_address(), 22, user, key, self.slowdown, self.where.proxy_command())

    def running(self) -> bool:
        return self._vagrant_state() == "running"

    def run(self, command: str, timeout: float, sudo: bool = False) -> CommandResult:
        return self._session(sudo).run(command, timeout)

    def put(self, local: Path, remote: str) -> None:
        self._session().put(local, remote)

    def get(self, remote: str, local: Path) -> None:
        self._session().get(remote, local)

    def console_text(self) -> str:
        self._fetch_console()
        return super().console_text()

    def _fetch_console(self) -> None:
        """A remote host's console file, downloaded over the local copy when it grew."""
        if not self.where.local and self.dir.is_dir():
            libvirt_files.fetch_console(self.uri, self.domain, self.console_log)

    def log_files(self) -> list[Path]:
        self._fetch_console()
        return [self.console_log, self.dir / "commands.log", self.dir / "vagrant.log"]

    def reset(self) -> None:
        """No snapshots through Vagrant here: a fresh guest from the box instead."""
        self.require_folder()
        self.replace()

    def use_debug(self, tier: str) -> None:
        """Run in another debug tier from now on: a new guest booted with its arguments."""
        if tier == self.record.debug:
            return
        self.record = self.record.with_debug(tier)
        save(self.dir, self.record)
        self.replace()

    def replace(self) -> None:
        self._drop_sessions()
        self._destroy_domain()
        self.up()

    def halt(self) -> None:
        self._drop_sessions()
        try:
            self._vagrant().halt(vm_name=self.name)
        except subprocess.CalledProcessError:
            raise MachineError(f"vagrant halt failed: {self._last_error()}") from None

    def _destroy_domain(self) -> None:
        """vagrant destroy, then make sure libvirt has neither the domain nor its volume."""
        (self.dir / "ssh_host").unlink(missing_ok=True)
        self._address = None
        try:
            self._vagrant().destroy(vm_name=self.name)
        except subprocess.CalledProcessError:
            pass
        if self._virsh("dominfo", self.domain).returncode == 0:
            self._virsh("destroy", self.domain)
            self._virsh("undefine", self.domain, "--remove-all-storage", "--nvram")
        self._virsh("vol-delete", "--pool", "default", f"{self.domain}.img")
        if not self.where.local:
            libvirt_files.remove_console(self.uri, self.domain)

    def destroy(self) -> None:
        self._drop_sessions()
        self._destroy_domain()
        remove_tree(self.dir)

    def status(self) -> MachineStatus:
        state = self._vagrant_state()
        ssh = f"{self._ssh_address()}:22" if state == "running" else ""
        details = {"console": str(self.console_log), "domain": self.domain, "uri": self.uri}
        box = Path(self.record.box).name
        return MachineStatus(
            self.name, self.provider, state, self.record.kernel_line, box, self.record.accel, ssh, details
        )
