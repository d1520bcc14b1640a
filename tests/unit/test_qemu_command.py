from pathlib import Path

from toolkit.machines.qemu.provider import AGENT_PORT, Launch, RamFile, machine_args, qemu_command


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
    for name in ("overlay.qcow2", "console.log", "qmp.sock", "agent.sock", "qemu.pid"):
        assert f"/state/vms/a/{name}" in command


def test_the_agent_has_a_named_virtio_serial_port_served_on_a_unix_socket() -> None:
    command = qemu_command(_launch())
    assert "socket,id=agent,path=/state/vms/a/agent.sock,server=on,wait=off" in _option(command, "-chardev")
    assert f"virtserialport,chardev=agent,name={AGENT_PORT}" in _option(command, "-device")
    assert "virtio-serial-pci" in _option(command, "-device")


def test_a_plain_boot_has_anonymous_ram_and_loads_nothing() -> None:
    command = qemu_command(_launch())
    assert _option(command, "-machine") == ["q35"] and _option(command, "-m") == ["2048"]
    assert _option(command, "-object") == [] and _option(command, "-incoming") == []
    assert "-loadvm" not in command


def test_a_capture_boots_with_its_ram_in_the_templates_file_shared() -> None:
    command = qemu_command(_launch(ram=RamFile(Path("/box/ready/t/memory.ram"), shared=True)))
    assert _option(command, "-machine") == ["q35,memory-backend=ram"]
    assert _option(command, "-object") == [
        "memory-backend-file,id=ram,size=2048M,mem-path=/box/ready/t/memory.ram,share=on"
    ]
    assert _option(command, "-incoming") == []


def test_a_restore_maps_the_templates_ram_privately_and_waits_for_its_device_state() -> None:
    command = qemu_command(_launch(ram=RamFile(Path("/box/ready/t/memory.ram"), shared=False)))
    assert _option(command, "-object") == [
        "memory-backend-file,id=ram,size=2048M,mem-path=/box/ready/t/memory.ram,share=off"
    ]
    assert _option(command, "-incoming") == ["defer"]


def test_the_machine_a_template_restores_into_names_no_file_of_any_vm() -> None:
    restore = _launch(ram=RamFile(Path("/box/ready/t/memory.ram"), shared=False))
    other = _launch(vm_dir=Path("/state/vms/b"), ssh_port=40023, public_key=Path("/other.pub"), ram=restore.ram)
    assert machine_args(restore) == machine_args(other)
    assert not any("/" in arg for arg in machine_args(restore))
    assert machine_args(restore) != machine_args(_launch(ram=restore.ram, memory_mib=1024))


def test_accelerator_picks_cpu_model() -> None:
    kvm = qemu_command(_launch(accel="kvm"))
    tcg = qemu_command(_launch(accel="tcg"))
    assert _option(kvm, "-accel") == ["kvm"] and _option(kvm, "-cpu") == ["host"]
    assert _option(tcg, "-accel") == ["tcg"] and _option(tcg, "-cpu") == ["max"]


def test_key_is_handed_in_through_fw_cfg_and_console_is_appended() -> None:
    command = qemu_command(_launch())
    assert _option(command, "-fw_cfg") == ["name=opt/vexfs/authorized_keys,file=/k.pub"]
    assert _option(command, "-chardev")[-1].endswith("console.log,append=on")
    assert _option(command, "-smp") == ["2"] and _option(command, "-m") == ["2048"]


def test_the_firmware_is_part_of_the_machine_a_template_restores_into() -> None:
    with_qboot = machine_args(_launch(bios="qboot.rom"))
    assert with_qboot[with_qboot.index("-bios") + 1] == "qboot.rom"
    assert machine_args(_launch(bios="qboot.rom")) != machine_args(_launch())
    assert "-bios" not in machine_args(_launch())
