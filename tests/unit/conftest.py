"""What every unit test gets: the runner sees a quiet host, whatever else this one runs (a stall it judges is
then the subject's; tests/unit/test_host_stalls.py gives the load itself)."""

from __future__ import annotations

import pytest

from toolkit.domains import host_stalls


@pytest.fixture(autouse=True)
def quiet_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_stalls, "host_load", lambda: (0.5, 2))
