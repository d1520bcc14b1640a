"""What the vagrant provider needs on the host, found by command: installed with apt-get where there is apt-get,
else named in one line with the packages and the command that installs them on the host's distribution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolkit import host_tools
from toolkit.errors import UserError
from toolkit.machines.vagrant import libvirt_host, plugins
from toolkit.progress import Progress

LOCAL = "qemu:///system"
REMOTE = "qemu+ssh://root@lab1/system"
VAGRANT_COMMANDS = [tool.need for tool in host_tools.table().values() if tool.needed_by in ("vagrant", "libvirt")]


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A host with no apt-get or dpkg: a PATH of stubs only, no system command folders, no Vagrant plugin."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(host_tools, "SYSTEM_COMMANDS", str(tmp_path / "sbin"))
    monkeypatch.setattr(plugins, "SYSTEM_PLUGINS", tmp_path / "plugins.d")
    monkeypatch.setenv("VAGRANT_HOME", str(tmp_path / "vagrant.d"))
    return tmp_path


def with_commands(host: Path, *names: str) -> None:
    for name in names:
        (host / "bin" / name).write_text("#!/bin/sh\n")
        (host / "bin" / name).chmod(0o755)


def on(host: Path, monkeypatch: pytest.MonkeyPatch, os_release: str) -> None:
    (host / "os-release").write_text(os_release)
    monkeypatch.setenv("VEXFS_OS_RELEASE", str(host / "os-release"))


def setup_refusal(uri: str) -> str:
    """The one line `invoke setup --provider vagrant` ends with (exit status 2: a UserError)."""
    with pytest.raises(UserError) as raised:
        libvirt_host.prepare(uri, Progress("vagrant"))
    return str(raised.value)


def test_setup_on_fedora_names_the_fedora_packages_and_the_dnf_command(
    host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on(host, monkeypatch, 'NAME="Fedora Linux"\nID=fedora\n')
    with_commands(host, *(name for name in VAGRANT_COMMANDS if name not in ("vagrant", "virtlogd")))
    assert setup_refusal(LOCAL) == (
        "the vagrant provider needs vagrant, vagrant-libvirt, virtlogd: "
        "sudo dnf install vagrant vagrant-libvirt libvirt-daemon-log"
    )


@pytest.mark.parametrize(
    ("os_release", "how"),
    [
        ("ID=fedora\n", "sudo dnf install libvirt-client vagrant-libvirt"),
        ("ID=manjaro\nID_LIKE=arch\n", "sudo pacman -S libvirt, then vagrant plugin install vagrant-libvirt"),
        ("ID=alpine\n", "install libvirt-clients vagrant-libvirt (Debian/Ubuntu), libvirt-client vagrant-libvirt "
                         "(Fedora) or libvirt `vagrant plugin install vagrant-libvirt` (Arch)"),
    ],
    ids=["fedora", "like-arch", "elsewhere"],
)  # fmt: skip
def test_setup_without_apt_get_says_what_to_install_on_the_distribution(
    host: Path, monkeypatch: pytest.MonkeyPatch, os_release: str, how: str
) -> None:
    """Arch packages no vagrant-libvirt: Vagrant installs it. Elsewhere: every distribution's packages."""
    on(host, monkeypatch, os_release)
    with_commands(host, "vagrant")
    assert setup_refusal(REMOTE) == f"the vagrant provider needs virsh, vagrant-libvirt: {how}"


def test_a_remote_libvirt_needs_no_libvirt_daemon_here(host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on(host, monkeypatch, "ID=debian\n")
    with_commands(host, "vagrant", "virsh")
    assert [tool.need for tool in libvirt_host.missing_tools(REMOTE)] == ["vagrant-libvirt"]
    assert [tool.need for tool in libvirt_host.missing_tools(LOCAL)] == [
        "vagrant-libvirt", "libvirtd", "virtlogd", "dnsmasq", "iptables",
    ]  # fmt: skip


def test_the_check_before_a_run_says_how_to_install_where_there_is_no_apt_get(
    host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on(host, monkeypatch, "ID=fedora\n")
    with_commands(host, "vagrant")
    with pytest.raises(UserError, match=r"^the vagrant provider needs virsh, vagrant-libvirt: sudo dnf install "):
        libvirt_host.check(REMOTE)


def test_the_check_before_a_run_sends_a_debian_host_to_setup(host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on(host, monkeypatch, "ID=debian\n")
    with_commands(host, "vagrant", "apt-get")
    with pytest.raises(UserError, match=r"^the vagrant provider needs virsh, vagrant-libvirt: run `invoke setup "):
        libvirt_host.check(REMOTE)


def test_setup_installs_with_apt_get_only_as_root(host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on(host, monkeypatch, "ID=debian\n")
    with_commands(host, "vagrant", "virsh", "apt-get")
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert setup_refusal(REMOTE).startswith("installing vagrant-libvirt for the vagrant provider needs root")


def test_a_plugin_is_found_in_vagrant_s_lists_or_its_plugin_list(host: Path) -> None:
    assert not plugins.installed("vagrant-libvirt")
    (host / "vagrant.d").mkdir()
    (host / "vagrant.d" / "plugins.json").write_text(json.dumps({"version": "1", "installed": {"vagrant-libvirt": {}}}))
    assert plugins.installed("vagrant-libvirt")
    (host / "vagrant.d" / "plugins.json").unlink()
    (host / "plugins.d").mkdir()
    (host / "plugins.d" / "vagrant-libvirt.json").write_text("{}")
    assert plugins.installed("vagrant-libvirt")
    (host / "plugins.d" / "vagrant-libvirt.json").unlink()
    (host / "bin" / "vagrant").write_text("#!/bin/sh\necho 'vagrant-libvirt (0.12.2, global)'\n")
    (host / "bin" / "vagrant").chmod(0o755)
    assert plugins.installed("vagrant-libvirt") and not plugins.installed("vagrant-libvirt-extra")
