"""VexFS VM test toolkit: build and test out-of-tree Linux modules inside VMs."""

__version__ = "0.1.0"
