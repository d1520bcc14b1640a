"""The ioctl number's encoding (include/uapi/asm-generic/ioctl.h, which x86_64 uses), its encoder macros, and a
command as its number decodes."""

from __future__ import annotations

from dataclasses import dataclass

# nr 8 bits, type 8, size 14, dir 2; _IOC_NONE 0, _IOC_WRITE 1, _IOC_READ 2.
NR_SHIFT, TYPE_SHIFT, SIZE_SHIFT, DIR_SHIFT = 0, 8, 16, 30
SIZE_MASK, DIR_MASK = (1 << 14) - 1, (1 << 2) - 1
IOC_NONE, IOC_WRITE, IOC_READ = 0, 1, 2
DIRECTIONS = {IOC_NONE: "none", IOC_WRITE: "write", IOC_READ: "read", IOC_READ | IOC_WRITE: "readwrite"}
ENCODERS = {"_IO": IOC_NONE, "_IOR": IOC_READ, "_IOW": IOC_WRITE, "_IOWR": IOC_READ | IOC_WRITE,
            "_IOR_BAD": IOC_READ, "_IOW_BAD": IOC_WRITE, "_IOWR_BAD": IOC_READ | IOC_WRITE}  # fmt: skip
IOC = "_IOC"  # _IOC(dir, type, nr, size), the size a number
IOC_CONSTANTS = {"_IOC_NONE": IOC_NONE, "_IOC_WRITE": IOC_WRITE, "_IOC_READ": IOC_READ}
NUMBER_MASK = 0xFFFFFFFF  # the driver's switch sees an unsigned int


def is_encoder(name: str) -> bool:
    """Whether name is one of the macros that make an ioctl number (`_IOR`, ..., `_IOC`)."""
    return name in ENCODERS or name == IOC


def encode(direction: int, type_: int, nr: int, size: int) -> int:
    """_IOC(dir, type, nr, size) as C computes it: an unsigned int, the fields not masked (an overflow spills over)."""
    return ((direction << DIR_SHIFT) | (type_ << TYPE_SHIFT) | (nr << NR_SHIFT) | (size << SIZE_SHIFT)) & NUMBER_MASK


@dataclass(frozen=True)
class IoctlCommand:
    """One ioctl command of the module: its macro, the number its switch sees, what that number encodes
    (the direction as the user sees it: none, read, write, readwrite; the argument's size), where it is defined."""

    name: str
    number: int
    direction: str
    size: int
    where: str

    @classmethod
    def decoded(cls, name: str, number: int, where: str) -> IoctlCommand:
        direction = DIRECTIONS[(number >> DIR_SHIFT) & DIR_MASK]
        return cls(name, number, direction, (number >> SIZE_SHIFT) & SIZE_MASK, where)
