"""The agent's wire format: frames come out whole and intact however the stream is cut in pieces, and
bytes that are not a whole, intact frame are skipped instead of garbling the next one. (A frame cut
short by a peer that went away is forgotten with its connection: each one gets a new decoder.)"""

from __future__ import annotations

import pytest

from toolkit.machines.qemu import agent_frames as wire


def test_frames_come_out_as_they_went_in_whatever_the_pieces() -> None:
    stream = wire.encode(wire.STDOUT, b"hello") + wire.encode(wire.DONE, b"0 0")
    decoder = wire.Decoder()
    frames = [frame for byte in stream for frame in decoder.feed(bytes([byte]))]
    assert frames == [wire.Frame(wire.STDOUT, b"hello"), wire.Frame(wire.DONE, b"0 0")]


def test_bytes_before_a_frame_are_skipped() -> None:
    frames = wire.Decoder().feed(b"VVXX noise V" + wire.encode(wire.HELLO, b"n1"))
    assert frames == [wire.Frame(wire.HELLO, b"n1")]


def test_a_damaged_payload_is_dropped() -> None:
    damaged = bytearray(wire.encode(wire.STDOUT, b"payload"))
    damaged[-1] ^= 0xFF
    assert wire.Decoder().feed(bytes(damaged) + wire.encode(wire.DONE, b"1 0")) == [wire.Frame(wire.DONE, b"1 0")]


def test_a_payload_over_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="at most"):
        wire.encode(wire.DATA, b"x" * (wire.MAX_PAYLOAD + 1))


def test_a_run_request_names_user_timeout_in_milliseconds_and_command() -> None:
    [frame] = wire.Decoder().feed(wire.run_request("vagrant", 2.5, "echo a\0b"))
    assert frame == wire.Frame(wire.RUN, b"vagrant\x002500\x00echo a\x00b")


def test_a_put_is_a_header_then_chunks_then_an_empty_chunk() -> None:
    data = b"y" * (wire.CHUNK + 10)
    frames = wire.Decoder().feed(b"".join(wire.put_request("root", 0o100755, "/tmp/f", data)))
    assert frames[0] == wire.Frame(wire.PUT, b"root\x00755\x00/tmp/f")
    assert [len(frame.payload) for frame in frames[1:]] == [wire.CHUNK, 10, 0]
    assert b"".join(frame.payload for frame in frames[1:]) == data


def test_done_says_status_and_whether_the_timeout_killed_it() -> None:
    assert wire.done_status(wire.Frame(wire.DONE, b"3 0")) == (3, False)
    assert wire.done_status(wire.Frame(wire.DONE, b"-1 1")) == (-1, True)


def test_the_clock_is_sent_as_seconds_and_nanoseconds() -> None:
    [frame] = wire.Decoder().feed(wire.clock_request(1700000000.25))
    assert frame == wire.Frame(wire.CLOCK, b"1700000000 250000000")
