"""Server frames cut out of socket reads: whatever the read boundaries, the same messages.

The unit tests feed FrameReader bytes as a server writes them; the last test puts a raw
loopback peer behind WebSocketClient that fragments a message, pings mid-message and
closes, as real gateways do and ours does not.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qmtl_core.errors import FeedError
from qmtl_plugin_websocket.client import WebSocketClient
from qmtl_plugin_websocket.framing import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    TEXT,
    FrameReader,
    ProtocolViolation,
)
from qmtl_plugin_websocket.gateway import encode_frame

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(payload: bytes, opcode: int = TEXT, *, fin: bool = True) -> bytes:
    whole = encode_frame(payload, opcode)
    return whole if fin else bytes((whole[0] & 0x7F,)) + whole[1:]


def read_all(reader: FrameReader) -> list[tuple[int, bytes]]:
    out = []
    while (item := reader.next()) is not None:
        out.append(item)
    return out


STREAM = b"".join(
    [
        frame(b'{"seq":0}'),
        frame(b"a" * 300),  # 16-bit length
        frame(b"b" * 70_000, BINARY),  # 64-bit length
        frame(b'{"part":', fin=False),
        frame(b"are you there", PING),  # control frames may come between fragments
        frame(b"1", CONTINUATION, fin=False),
        frame(b"}", CONTINUATION),
        frame(b"", TEXT),
    ]
)
EXPECTED = [
    (TEXT, b'{"seq":0}'),
    (TEXT, b"a" * 300),
    (BINARY, b"b" * 70_000),
    (PING, b"are you there"),
    (TEXT, b'{"part":1}'),
    (TEXT, b""),
]


def test_a_stream_read_in_one_piece() -> None:
    reader = FrameReader()
    reader.feed(STREAM)
    assert read_all(reader) == EXPECTED


def test_a_stream_read_byte_by_byte() -> None:
    reader = FrameReader()
    out = []
    for i in range(len(STREAM)):
        reader.feed(STREAM[i : i + 1])
        out += read_all(reader)
    assert out == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=30))
def test_any_read_boundaries_give_the_same_messages(cuts: list[int]) -> None:
    reader = FrameReader()
    out = []
    edges = [0, *sorted(cuts), len(STREAM)]
    for start, end in itertools.pairwise(edges):
        reader.feed(STREAM[start:end])
        out += read_all(reader)
    assert out == EXPECTED


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes((0x81, 0x81)) + b"mask" + b"x", "masked"),
        (bytes((0xC1, 0x01)) + b"x", "reserved bits"),
        (frame(b"x", 0x3), "unknown opcode"),
        (frame(b"x", CONTINUATION), "no message to continue"),
        (frame(b"x", fin=False) + frame(b"y"), "inside a fragmented one"),
        (frame(b"x" * 126, PING), "too long"),
        (frame(b"x", CLOSE, fin=False), "fragmented"),
    ],
)
def test_protocol_violations_are_refused(data: bytes, reason: str) -> None:
    reader = FrameReader()
    reader.feed(data)
    with pytest.raises(ProtocolViolation, match=reason):
        read_all(reader)


class RawPeer:
    """A loopback WebSocket server written by hand: it sends exactly the bytes it is given."""

    def __init__(self, frames: bytes) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/ws"
        self._frames = frames
        self.received = b""
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            conn.sendall(self._frames)
            conn.settimeout(2.0)
            try:
                while chunk := conn.recv(4096):
                    self.received += chunk
            except OSError:
                pass

    def join(self) -> None:
        self._thread.join(timeout=5.0)
        self._listener.close()


def client_frames(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Unmask the frames a client sent (opcode, payload); short payloads only."""
    pos = 0
    while pos < len(data):
        opcode, length = data[pos] & 0x0F, data[pos + 1] & 0x7F
        mask = data[pos + 2 : pos + 6]
        body = data[pos + 6 : pos + 6 + length]
        yield opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(body))
        pos += 6 + length


def test_a_real_peer_that_fragments_pings_and_closes() -> None:
    close = frame(struct.pack("!H", 1000) + b"bye", CLOSE)
    peer = RawPeer(
        frame(b'{"seq":', fin=False) + frame(b"ping-1", PING) + frame(b"1}", CONTINUATION) + close
    )
    client = WebSocketClient(peer.url, ping_interval=5, recv_timeout=5)
    with client:
        assert client.receive() == b'{"seq":1}'
        with pytest.raises(FeedError, match="closed by the peer"):
            client.receive()
    peer.join()
    replies = list(client_frames(peer.received))
    assert replies[0] == (PING + 1, b"ping-1")  # the pong echoes the ping's payload
    assert replies[1][0] == CLOSE
