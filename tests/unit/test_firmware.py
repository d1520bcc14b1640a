from pathlib import Path

from toolkit.machines.qemu import firmware


def test_qboot_is_chosen_when_one_of_qemus_data_folders_has_it(tmp_path: Path) -> None:
    seabios, qemu = tmp_path / "seabios", tmp_path / "qemu"
    seabios.mkdir(), qemu.mkdir()
    (qemu / "qboot.rom").write_bytes(b"rom")
    assert firmware.bios((seabios, qemu)) == "qboot.rom"


def test_qemus_default_firmware_stays_without_qboot(tmp_path: Path) -> None:
    (tmp_path / "bios-256k.bin").write_bytes(b"rom")
    assert firmware.bios((tmp_path,)) == ""
    assert firmware.bios(()) == ""


def test_a_folder_named_like_the_rom_is_no_firmware(tmp_path: Path) -> None:
    (tmp_path / "qboot.rom").mkdir()
    assert firmware.bios((tmp_path,)) == ""
