"""The vagrant provider: a box run by vagrant-libvirt, on this host or a remote libvirt host."""
