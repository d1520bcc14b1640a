"""The guest's fsops.py, run here on a folder of this host: the file churn of the memory test and the listing of
posix_ops in small reads, on a filesystem that works and on one whose calls fail as a filesystem's may."""

from __future__ import annotations

import errno
import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from toolkit.domains.filesystem import subject

FSOPS = subject.SCRIPTS / "fsops.py"


@pytest.fixture
def fsops() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fsops", FSOPS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def refusing(number: int) -> Any:
    def call(*args: Any, **kwargs: Any) -> None:
        raise OSError(number, os.strerror(number))

    return call


def churned(fsops: ModuleType, top: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], int, str]:
    """What the churn printed, its exit status and its stderr."""
    status = 0
    try:
        fsops.cmd_churn(str(top), "3")
    except SystemExit as exit:
        status = int(exit.code or 0)
    out, err = capsys.readouterr()
    return json.loads(out), status, err


def test_a_churn_on_a_working_filesystem_fails_nothing_and_leaves_nothing(
    fsops: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found, status, _ = churned(fsops, tmp_path, capsys)
    assert (found, status) == ({"rounds": 3, "failed": [], "failures": 0, "refused": {}}, 0)
    assert list(tmp_path.iterdir()) == []


def test_links_refused_by_design_are_left_out_of_the_churn(
    fsops: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fsops.os, "link", refusing(errno.EPERM))
    found, status, _ = churned(fsops, tmp_path, capsys)
    assert (found["failures"], found["refused"], status) == (0, {"link": "EPERM"}, 0)


def test_a_failing_rename_fails_the_churn_with_its_first_failure_on_stderr(
    fsops: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fsops.os, "rename", refusing(errno.EIO))
    found, status, err = churned(fsops, tmp_path, capsys)
    assert (found["failures"], status) == (3, 1)
    assert err == "file churn: 3 of 3 rounds failed, the first: 0: Input/output error (EIO)\n"


def test_a_folder_listed_in_small_reads_gives_each_name_once(fsops: ModuleType, tmp_path: Path) -> None:
    assert fsops._listed_in_small_reads(str(tmp_path / "many")) == {"read": 24, "distinct": 24, "missing": []}
    assert not (tmp_path / "many").exists()
