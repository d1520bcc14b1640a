"""VexFS VM test toolkit: build and test out-of-tree Linux modules inside VMs."""

__version__ = "0.1.0"

import logging

# python-vagrant warns when it is imported on a host without vagrant, which is normal for the
# qemu provider; the vagrant provider says so itself when it is really asked for.
logging.getLogger("vagrant").setLevel(logging.ERROR)
