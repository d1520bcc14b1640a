"""The uncompressed kernel inside a bzImage, for direct PVH boot.

Under TCG a stock Debian kernel spends about 5 s decompressing itself before it prints a
line. Kernels built with CONFIG_PVH can instead be loaded by QEMU as a plain ELF file,
already uncompressed, which skips that entirely.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

from toolkit.errors import UserError


def _zstd(data: bytes) -> bytes:
    if not shutil.which("zstd"):
        raise UserError("zstd is needed to unpack this kernel: run ./setup (or apt-get install zstd)")
    done = subprocess.run(["zstd", "-dc"], input=data, capture_output=True)
    return done.stdout


def _gzip(data: bytes) -> bytes:
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)


def _xz(data: bytes) -> bytes:
    return lzma.LZMADecompressor().decompress(data)


# The payload's compression, by the magic bytes that start its stream.
DECOMPRESSORS: tuple[tuple[bytes, Callable[[bytes], bytes]], ...] = (
    (b"\xfd7zXZ\x00", _xz),
    (b"\x28\xb5\x2f\xfd", _zstd),
    (b"\x1f\x8b\x08", _gzip),
)


def has_pvh_entry(config: Path) -> bool:
    """Whether the kernel can be started at its PVH entry (a KASAN kernel cannot: it faults before its shadow exists)."""
    options = config.read_text().splitlines()
    return "CONFIG_PVH=y" in options and "CONFIG_KASAN=y" not in options


def extract(bz_image: bytes) -> bytes:
    """The ELF kernel compressed inside bz_image; UserError if no known stream holds one."""
    for magic, decompress in DECOMPRESSORS:
        start = bz_image.find(magic)
        while start != -1:
            try:
                kernel = decompress(bz_image[start:])
            except (lzma.LZMAError, zlib.error, EOFError, gzip.BadGzipFile):
                kernel = b""
            if kernel.startswith(b"\x7fELF"):
                return kernel
            start = bz_image.find(magic, start + 1)
    raise UserError("cannot find the uncompressed kernel inside this bzImage: report the kernel package")
