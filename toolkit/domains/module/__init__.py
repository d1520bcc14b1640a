"""A loadable module under test: what every domain testing one shares (no domain itself).

Its options (options.py, parameters.py), its build against the guest's kernel (build.py,
build_tree.py, elf.py) and the build case judging it (build_case.py), loading it in the guest
with its scripts (subject.py, scripts/), the ioctl commands of its sources (ioctls/), the
user's workload (workload.py), what the exerciser did with it (exercised.py), and the
memory_leak case with its kmemleak reading (leaks.py, kmemleak.py). A domain package imports
these, never another domain's modules.
"""
