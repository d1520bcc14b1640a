"""The guest agent's wire format, the host's side of it (the guest's is toolkit/boxes/guest/agent.c).

A frame is `VX`, a kind byte, a zero byte, the payload's length and CRC-32 (big-endian), then the
payload. A reader skips bytes that do not start a whole, intact frame, so a frame cut short by a
peer that went away never garbles the next one.

    host  -> guest   H nonce | X user, timeout_ms, command | P user, mode, path; D chunk ... D ""
                     | G user, path | T seconds nanoseconds
    guest -> host    H nonce | O stdout chunk | E stderr chunk | D file chunk
                     | Z "status timed_out" (the last frame of a reply) | F message (a failed request)
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"VX"
HEADER = struct.Struct(">2sBBII")
MAX_PAYLOAD = 1 << 20
CHUNK = 65536

HELLO, RUN, PUT, GET, CLOCK = b"H", b"X", b"P", b"G", b"T"
STDOUT, STDERR, DATA, DONE, FAILED = b"O", b"E", b"D", b"Z", b"F"


@dataclass(frozen=True)
class Frame:
    kind: bytes
    payload: bytes = b""


def encode(kind: bytes, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"a frame holds at most {MAX_PAYLOAD} bytes, not {len(payload)}")
    return HEADER.pack(MAGIC, kind[0], 0, len(payload), zlib.crc32(payload)) + payload


def run_request(user: str, timeout_s: float, command: str) -> bytes:
    return encode(RUN, b"\0".join([user.encode(), str(round(timeout_s * 1000)).encode(), command.encode()]))


def put_request(user: str, mode: int, path: str, data: bytes) -> list[bytes]:
    """The frames that write data to path as user, mode set to mode."""
    header = encode(PUT, b"\0".join([user.encode(), f"{mode & 0o7777:o}".encode(), path.encode()]))
    chunks = [encode(DATA, data[at : at + CHUNK]) for at in range(0, len(data), CHUNK)]
    return [header, *chunks, encode(DATA)]


def get_request(user: str, path: str) -> bytes:
    return encode(GET, b"\0".join([user.encode(), path.encode()]))


def clock_request(seconds: float) -> bytes:
    whole = int(seconds)
    return encode(CLOCK, f"{whole} {int((seconds - whole) * 1e9)}".encode())


def done_status(frame: Frame) -> tuple[int, bool]:
    """A DONE frame's exit status, and whether the command was killed at its timeout."""
    status, timed_out = frame.payload.split()
    return int(status), timed_out == b"1"


class Decoder:
    """Frames out of a byte stream fed in pieces, past anything that is not a whole, intact frame."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer += data
        frames: list[Frame] = []
        while True:
            start = self.buffer.find(MAGIC)
            if start < 0:
                del self.buffer[: max(len(self.buffer) - 1, 0)]
                return frames
            del self.buffer[:start]
            if len(self.buffer) < HEADER.size:
                return frames
            _, kind, zero, length, crc = HEADER.unpack_from(self.buffer)
            if zero != 0 or length > MAX_PAYLOAD:
                del self.buffer[:1]
                continue
            if len(self.buffer) < HEADER.size + length:
                return frames
            payload = bytes(self.buffer[HEADER.size : HEADER.size + length])
            if zlib.crc32(payload) != crc:
                del self.buffer[:1]
                continue
            del self.buffer[: HEADER.size + length]
            frames.append(Frame(bytes([kind]), payload))
