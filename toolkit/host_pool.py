"""Hosts handed to kernel lines as they free up, each host running at most its own number of VMs at once."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping

from toolkit.errors import UserError


class HostPool:
    """Slots per host (a libvirt URI, or "" for this machine); a line holds one while its VM lives."""

    def __init__(self, slots: Mapping[str, int], limit: int | None = None) -> None:
        kept = _capped(slots, sum(slots.values()) if limit is None else limit)
        self.slots = {host: count for host, count in kept.items() if count > 0}
        if not self.slots:
            raise UserError(f"no host can run a VM now: {', '.join(slots) or 'none given'}")
        self._free = dict(self.slots)
        self._changed = threading.Condition()

    @property
    def total(self) -> int:
        return sum(self.slots.values())

    @contextlib.contextmanager
    def host(self) -> Iterator[str]:
        """Wait for a free slot (on the host with the most free, the first listed among equals), hold it."""
        with self._changed:
            self._changed.wait_for(lambda: any(self._free.values()))
            chosen = max(self._free, key=lambda host: self._free[host])
            self._free[chosen] -= 1
        try:
            yield chosen
        finally:
            with self._changed:
                self._free[chosen] += 1
                self._changed.notify()


def _capped(slots: Mapping[str, int], limit: int) -> dict[str, int]:
    """At most limit slots in all, taken from the hosts with the most first (the first listed among equals)."""
    kept = dict.fromkeys(slots, 0)
    for _ in range(min(limit, sum(slots.values()))):
        host = max(slots, key=lambda uri: slots[uri] - kept[uri])
        kept[host] += 1
    return kept
