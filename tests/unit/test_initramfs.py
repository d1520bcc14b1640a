import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from toolkit.boxes import initramfs
from toolkit.boxes.initramfs import CpioEntry


def test_cpio_archive_lists_and_extracts_with_gnu_cpio(tmp_path: Path) -> None:
    if not shutil.which("cpio"):
        pytest.skip("GNU cpio is not installed: cannot cross-check the archive format")
    archive = initramfs.cpio_newc(
        [CpioEntry("bin", 0o40755), CpioEntry("bin/hello", 0o100755, b"#!/bin/sh\necho hi\n")]
    )
    done = subprocess.run(["cpio", "-idm", "--quiet"], input=archive, cwd=tmp_path, check=True)
    assert done.returncode == 0
    assert (tmp_path / "bin/hello").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert (tmp_path / "bin/hello").stat().st_mode & 0o777 == 0o755


def test_cpio_members_are_four_byte_aligned() -> None:
    archive = initramfs.cpio_newc([CpioEntry("a", 0o100644, b"x"), CpioEntry("bb", 0o100644, b"yyy")])
    assert len(archive) % 4 == 0
    assert archive.count(b"070701") == 3
    assert b"TRAILER!!!" in archive


def _modules_dir(tmp_path: Path) -> Path:
    modules = tmp_path / "lib/modules/6.1.0-1-amd64"
    modules.mkdir(parents=True)
    (modules / "modules.dep").write_text(
        "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko\n"
        "kernel/fs/jbd2/jbd2.ko:\n"
        "kernel/fs/mbcache.ko:\n"
        "kernel/lib/crc16.ko:\n"
        "kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko.xz\n"
        "kernel/drivers/virtio/virtio.ko.xz:\n"
        "kernel/arch/x86/crypto/crc32c-intel.ko:\n"
    )
    return modules


def test_load_order_puts_dependencies_first_and_skips_builtins(tmp_path: Path) -> None:
    index = initramfs.module_index(_modules_dir(tmp_path))
    order = initramfs.load_order(("virtio_pci", "virtio_blk", "crc32c_intel", "ext4"), index)
    assert order.index("kernel/drivers/virtio/virtio.ko.xz") < order.index("kernel/drivers/block/virtio_blk.ko.xz")
    assert order.index("kernel/fs/jbd2/jbd2.ko") < order.index("kernel/fs/ext4/ext4.ko")
    assert "kernel/arch/x86/crypto/crc32c-intel.ko" in order
    assert not any("virtio_pci" in path for path in order)
    assert len(order) == len(set(order))


def test_compressed_modules_are_unpacked_for_busybox_insmod(tmp_path: Path) -> None:
    import lzma

    module = tmp_path / "m.ko.xz"
    module.write_bytes(lzma.compress(b"\x7fELF module"))
    assert initramfs._decompressed(module) == b"\x7fELF module"
    plain = tmp_path / "m.ko.gz"
    plain.write_bytes(gzip.compress(b"\x7fELF other"))
    assert initramfs._decompressed(plain) == b"\x7fELF other"
