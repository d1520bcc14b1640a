"""A box's disk: an ext4 image of its tree made as a sparse raw image (in memory when there is room), then qcow2."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from toolkit.boxes import build


def test_the_disk_is_taken_as_zeroed_by_the_mke2fs_versions_that_can() -> None:
    assert build.prezeroed_option("mke2fs 1.47.0 (5-Feb-2023)\n\tUsing EXT2FS Library version 1.47.0") == [
        "-E",
        "assume_storage_prezeroed=1",
    ]
    assert build.prezeroed_option("mke2fs 1.47.2 (1-Jan-2025)") == ["-E", "assume_storage_prezeroed=1"]
    assert build.prezeroed_option("mke2fs 2.0.0 (1-Jan-2030)") == ["-E", "assume_storage_prezeroed=1"]
    assert build.prezeroed_option("mke2fs 1.46.5 (30-Dec-2021)") == []
    assert build.prezeroed_option("") == []


def with_available(monkeypatch: pytest.MonkeyPatch, gib: float) -> None:
    monkeypatch.setattr(build.psutil, "virtual_memory", lambda: SimpleNamespace(available=int(gib * 1024**3)))


def test_the_raw_image_is_made_in_memory_when_there_is_room(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_available(monkeypatch, build.RAW_IN_MEMORY_GIB + 1)
    with build._raw_image(tmp_path, 8 * 1024**3) as (raw, descriptors):
        assert raw == f"/proc/self/fd/{descriptors[0]}"
        assert os.stat(raw).st_size == 8 * 1024**3
        assert os.stat(raw).st_blocks == 0  # sparse
        assert not list(tmp_path.iterdir())
    with pytest.raises(OSError):
        os.fstat(descriptors[0])


def test_the_raw_image_is_a_file_in_the_scratch_folder_when_memory_is_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_available(monkeypatch, build.RAW_IN_MEMORY_GIB - 1)
    with build._raw_image(tmp_path, 1024**3) as (raw, descriptors):
        assert (raw, descriptors) == (str(tmp_path / "box.raw"), ())
        assert os.stat(raw).st_size == 1024**3
    assert not list(tmp_path.iterdir())
