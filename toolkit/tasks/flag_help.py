"""The help of flags that tasks of several namespaces offer (a run's flags: toolkit/run_options.py)."""

from __future__ import annotations

JSON_HELP = "print JSON (stable keys, see docs/usage.md) instead of a table"
VM_NAME_HELP = "VM name (default: default); several VMs can run side by side"
