"""Ready templates: one per box and machine shape, in the box's folder, captured whole or not at all."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from toolkit.boxes.store import Box
from toolkit.machines.qemu import templates
from toolkit.machines.vm_record import VmRecord

MACHINE = ["slub_debug=FZPU", "-machine", "q35,memory-backend=ram", "-m", "2048"]


def _record(**changes: object) -> VmRecord:
    record = VmRecord("a", "qemu", "6.1", "/box", "tcg", 2, 2048, "2026-01-01T00:00:00+00:00", 0, "lite")
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


@pytest.fixture
def box(tmp_path: Path) -> Box:
    return Box(tmp_path / "box", "bookworm-x", "6.1", "bookworm", "6.1.0-1-amd64", "6.1.1-1", "2026-01-01")


def test_a_template_is_named_by_the_vms_shape_and_lives_in_its_box(box: Box) -> None:
    template = templates.for_vm(_record(), box, "key12345", MACHINE)
    assert template.path.parent == box.path / "ready"
    assert template.path.name.startswith("tcg-2c-2048m-key12345-lite-")


def test_every_part_of_the_shape_gets_a_template_of_its_own(box: Box) -> None:
    shapes = [
        templates.for_vm(_record(), box, "key12345", MACHINE),
        templates.for_vm(_record(accel="kvm"), box, "key12345", MACHINE),
        templates.for_vm(_record(cpus=4), box, "key12345", MACHINE),
        templates.for_vm(_record(memory_mib=1024), box, "key12345", MACHINE),
        templates.for_vm(_record(debug="off"), box, "key12345", MACHINE),
        templates.for_vm(_record(), box, "other123", MACHINE),
        templates.for_vm(_record(), box, "key12345", ["page_poison=1", *MACHINE[1:]]),
        templates.for_vm(_record(), box, "key12345", [*MACHINE, "-device", "virtio-rng-pci"]),
    ]
    assert len({template.path for template in shapes}) == len(shapes)


def test_vms_of_one_shape_share_one_template(box: Box) -> None:
    first = templates.for_vm(_record(name="a", ssh_port=40000), box, "key12345", MACHINE)
    assert templates.for_vm(_record(name="b", ssh_port=40001), box, "key12345", MACHINE) == first


def test_another_qemu_build_gets_another_template(box: Box, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "bin" / "qemu-system-x86_64"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", str(binary.parent))
    before = templates.for_vm(_record(), box, "key12345", MACHINE)
    os.utime(binary, ns=(0, 10**18))
    assert templates.for_vm(_record(), box, "key12345", MACHINE) != before


def test_a_captured_template_appears_whole_once_the_capture_ends(box: Box) -> None:
    template = templates.for_vm(_record(), box, "key12345", MACHINE)
    with templates.capture_into(template) as partial:
        for path in (partial.disk, partial.memory, partial.devices, partial.console):
            path.write_text(path.name)
        assert not template.exists()
    assert template.exists() and template.memory.read_text() == "memory.ram"
    assert sorted(p.name for p in template.path.parent.iterdir()) == [template.path.name]


def test_a_capture_that_fails_leaves_no_template_and_nothing_half_made(box: Box) -> None:
    template = templates.for_vm(_record(), box, "key12345", MACHINE)
    with pytest.raises(RuntimeError), templates.capture_into(template) as partial:
        partial.memory.write_text("half")
        raise RuntimeError("the boot failed")
    assert not template.exists() and list(template.path.parent.iterdir()) == []


def test_what_a_killed_capture_left_is_removed_by_the_next_one(box: Box) -> None:
    template = templates.for_vm(_record(), box, "key12345", MACHINE)
    left = template.path.with_name(f".{template.path.name}.partial")
    left.mkdir(parents=True)
    (left / "memory.ram").write_text("stale")
    with templates.capture_into(template) as partial:
        assert list(partial.path.iterdir()) == []
        partial.devices.write_text("state")
    assert not left.exists() and template.exists()
