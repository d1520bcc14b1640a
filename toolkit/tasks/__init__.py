"""The toolkit's tasks, one module per namespace; `tasks.py` (for `invoke`) and `vexfs-vmtest` both load `ns`.

setup (host.py); vm.* start, reach and stop VMs; box.* the boxes they start from; kernel.build debug
kernels; test.* run domains on one VM; bisect finds the commit that turned a module's tests red; results.* what
runs found; config.show the settings in force.
Each task parses its flags, calls the toolkit and prints: nothing more.

Every command loads every task's declaration (its name, flags and help) before it parses a word, so these modules
import only what declares them; each body imports what does its work (the settings, domains, VMs, results) as
it starts: a command starts in a fraction of a second and pays only for its own work.
"""

from __future__ import annotations

from invoke import Collection

from toolkit.tasks import bisect, box, config, host, kernel, results, test, vm

ns = Collection(host.setup, bisect.bisect, vm.ns, box.ns, kernel.ns, test.ns, results.ns, config.ns)
