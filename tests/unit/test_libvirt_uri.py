"""libvirt URIs: this machine's libvirt, or a remote host whose guests are reached through SSH to it."""

import pytest

from toolkit.errors import UserError
from toolkit.machines.vagrant.libvirt_uri import LibvirtUri

REMOTE = "qemu+ssh://root@127.0.0.1:2222/system?keyfile=/k/id&no_verify=1"


def test_a_socket_uri_is_this_machine_and_needs_no_hop() -> None:
    local = LibvirtUri.parse("qemu:///system")
    assert local.local and local.proxy_command() == ""
    local.require_reachable_guests()


def test_an_ssh_uri_is_a_remote_host_whose_guests_are_reached_through_the_same_login() -> None:
    remote = LibvirtUri.parse(REMOTE)
    assert not remote.local and (remote.user, remote.host, remote.port, remote.keyfile) == (
        "root",
        "127.0.0.1",
        2222,
        "/k/id",
    )
    assert remote.proxy_command() == (
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "
        "-p 2222 -l root -i /k/id -W %h:%p 127.0.0.1"
    )
    remote.require_reachable_guests()


def test_without_no_verify_the_hop_checks_the_hosts_key_as_libvirt_does() -> None:
    assert LibvirtUri.parse("qemu+ssh://lab/system").proxy_command() == "ssh -o BatchMode=yes -W %h:%p lab"


def test_a_remote_host_reached_otherwise_than_ssh_or_another_driver_is_refused_in_one_line() -> None:
    with pytest.raises(UserError, match=r"reached over tls, and its guests .* use qemu\+ssh://user@host/system"):
        LibvirtUri.parse("qemu+tls://lab/system").require_reachable_guests()
    with pytest.raises(UserError, match="is not a QEMU driver URI"):
        LibvirtUri.parse("xen+ssh://lab/")
