from pathlib import Path

from toolkit.machines.qemu import SNAPSHOT, Launch, qemu_command


def _launch(**changes: object) -> Launch:
    values = dict(
        vm_dir=Path("/state/vms/a"),
        kernel=Path("/box/vmlinuz"),
        initrd=Path("/box/initrd.img"),
        accel="tcg",
        cpus=2,
        memory_mib=2048,
        ssh_port=40022,
        public_key=Path("/k.pub"),
        resume=False,
    )
    values.update(changes)
    return Launch(**values)  # type: ignore[arg-type]


def _option(command: list[str], flag: str) -> list[str]:
    return [command[i + 1] for i, word in enumerate(command) if word == flag]


def test_ssh_is_forwarded_on_loopback_only() -> None:
    netdev = _option(qemu_command(_launch()), "-netdev")[0]
    assert "hostfwd=tcp:127.0.0.1:40022-:22" in netdev


def test_every_vm_file_lives_in_its_own_directory() -> None:
    command = " ".join(qemu_command(_launch()))
    for name in ("overlay.qcow2", "console.log", "qmp.sock", "qemu.pid"):
        assert f"/state/vms/a/{name}" in command


def test_resume_loads_the_ready_snapshot() -> None:
    assert _option(qemu_command(_launch(resume=True)), "-loadvm") == [SNAPSHOT]
    assert _option(qemu_command(_launch(resume=False)), "-loadvm") == []


def test_accelerator_picks_cpu_model() -> None:
    kvm = qemu_command(_launch(accel="kvm"))
    tcg = qemu_command(_launch(accel="tcg"))
    assert _option(kvm, "-accel") == ["kvm"] and _option(kvm, "-cpu") == ["host"]
    assert _option(tcg, "-accel") == ["tcg"] and _option(tcg, "-cpu") == ["max"]


def test_key_is_handed_in_through_fw_cfg_and_console_is_appended() -> None:
    command = qemu_command(_launch())
    assert _option(command, "-fw_cfg") == ["name=opt/vexfs/authorized_keys,file=/k.pub"]
    assert _option(command, "-chardev")[0].endswith("console.log,append=on")
    assert _option(command, "-smp") == ["2"] and _option(command, "-m") == ["2048"]
