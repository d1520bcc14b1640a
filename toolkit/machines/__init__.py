"""Machines: the VMs tests run in. protocol.py says what a machine does, registry.py finds the installation's
VMs by name, providers.py picks the provider (qemu/, vagrant/) that runs one; the modules beside them are what
every provider shares."""
