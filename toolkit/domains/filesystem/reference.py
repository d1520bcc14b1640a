"""The host's reference for VexFS's k-nearest query: the same integer metrics and order as the kernel.

Mirrors kernel/vexfs/include/uapi/vexfs.h and vector.c: components are int8 or int16,
little-endian; L2 is the squared Euclidean distance (smaller is nearer), DOT the dot product
(larger is nearer); ties go to the lower inode number; at most k results, nearest first.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

VEC_XATTR = "user.vexfs.vec"
MAX_DIM = 4096
MAX_K = 1024
METRICS = {"l2": 0, "dot": 1}
VTYPES = {"int8": ("b", -128, 127), "int16": ("h", -32768, 32767)}
QUERY_STRUCT = "<IIIIQQ"  # dim, k, metric, count, query pointer, results pointer
RESULT_STRUCT = "<Qq"  # ino, score


def _ioc_readwrite(magic: int, number: int, size: int) -> int:
    """Linux's _IOWR(magic, number, size) on x86."""
    return (3 << 30) | (size << 16) | (magic << 8) | number


IOC_QUERY = _ioc_readwrite(0xE8, 1, struct.calcsize(QUERY_STRUCT))


def encode(components: Sequence[int], vtype: str) -> bytes:
    """A vector as the xattr and the ioctl carry it: dim components of vtype, little-endian."""
    code, low, high = VTYPES[vtype]
    if any(not low <= value <= high for value in components):
        raise ValueError(f"a component of {list(components)} does not fit {vtype}")
    return struct.pack(f"<{len(components)}{code}", *components)


def score(a: Sequence[int], b: Sequence[int], metric: str) -> int:
    """The score the kernel reports: squared distance for l2, dot product for dot."""
    if len(a) != len(b):
        raise ValueError(f"vectors of {len(a)} and {len(b)} components")
    if metric == "l2":
        return sum((x - y) * (x - y) for x, y in zip(a, b, strict=True))
    if metric == "dot":
        return sum(x * y for x, y in zip(a, b, strict=True))
    raise ValueError(f"unknown metric {metric!r}: choose one of {', '.join(METRICS)}")


def nearest(vectors: Mapping[int, Sequence[int]], query: Sequence[int], k: int, metric: str) -> list[tuple[int, int]]:
    """The k (inode, score) pairs nearest to query, nearest first, ties by inode number."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be 1..{MAX_K}, not {k}")
    sign = 1 if metric == "l2" else -1
    scored = [(score(query, vector, metric), ino) for ino, vector in vectors.items()]
    scored.sort(key=lambda pair: (sign * pair[0], pair[1]))
    return [(ino, value) for value, ino in scored[:k]]
