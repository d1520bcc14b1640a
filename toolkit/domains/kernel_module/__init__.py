"""The kernel_module domain: build an out-of-tree module against the guest's kernel and put it
through build, load, unload, lifecycle_stress, memory_leak, concurrency, hang_detection,
error_handling, interfaces and its own tests (module_tests), in the guest.

Declared here for the commands; the tests and how they find their subjects: domain.py.
"""

from __future__ import annotations

from toolkit.domains.declaration import Declaration
from toolkit.domains.module.options import ModuleOptions

DECLARATION = Declaration(
    name="kernel_module",
    summary="an out-of-tree module built against the guest's kernel: build, load, unload, stress, leaks, hangs, "
    "concurrency, error handling, interfaces, its own tests",
    options=ModuleOptions,
    quick={"cycles": 3, "watch_s": 3.0, "race_rounds": 2, "exercise_s": 5.0},
)
