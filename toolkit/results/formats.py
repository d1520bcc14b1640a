"""What `results.export` offers, by name: the formats a run is written in (reports.py writes all but kcidb,
kcidb.py that one), and the CI system's name KCIDB ids start with unless told another.

Apart from the writers so that the commands' help names them without loading them.
"""

from __future__ import annotations

EXPORT_FORMATS = ("json", "junit", "csv", "table", "html", "kcidb")
KCIDB_ORIGIN = "vexfs_vmtest"
