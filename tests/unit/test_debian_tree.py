from pathlib import Path

import pytest

from toolkit.boxes import debian_tree


@pytest.mark.parametrize("euid", [0, 1000])
def test_dpkg_writes_the_tree_without_fsync_as_root_and_as_a_user(monkeypatch, tmp_path: Path, euid: int) -> None:
    monkeypatch.setattr(debian_tree.os, "geteuid", lambda: euid)
    ran: list[list[str]] = []
    debian_tree.make(["mmdebstrap", "--variant=minbase"], "bookworm", "http://mirror", tmp_path / "rootfs",
                     lambda words, step: ran.append(words))  # fmt: skip
    mmdebstrap = ran[0]
    assert mmdebstrap[:3] == ["mmdebstrap", "--variant=minbase", "--dpkgopt=force-unsafe-io"]
    assert mmdebstrap[mmdebstrap.index("bookworm") - 1] == "--mode=unshare"
    assert mmdebstrap[-1] == "http://mirror"
