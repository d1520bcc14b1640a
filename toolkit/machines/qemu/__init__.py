"""The qemu provider: a box booted by QEMU directly, its ready templates, and the guest agent it speaks to."""
