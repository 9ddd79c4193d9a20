"""Server-to-client WebSocket frames cut out of the bytes read from the socket (RFC 6455 5.2).

websocket-client parses every frame with several small reads and an object per frame,
which costs more than the rest of the feed's work per message. The reader here is fed
whole socket reads and cuts the frames out of them with a few index operations; it
reassembles fragmented messages and lets control frames through between fragments.
websocket-client still does the handshake and everything the client sends.

A frame that breaks the protocol (masked, reserved bits set, an unknown opcode, a
control frame that is fragmented or too long, a continuation out of place) raises
:class:`ProtocolViolation`: the connection cannot be trusted any more.
"""

from __future__ import annotations

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_DATA = (TEXT, BINARY)
_CONTROL = (CLOSE, PING, PONG)
_MAX_CONTROL_PAYLOAD = 125


class ProtocolViolation(Exception):
    """The peer sent something that is not a valid server frame."""


class FrameReader:
    """``feed(bytes)`` what the socket gave; ``next()`` the next whole message or control frame.

    ``next()`` returns ``(opcode, payload)``: TEXT or BINARY with a whole message's
    payload (fragments joined), or a control frame (CLOSE, PING, PONG); ``None`` when
    more bytes are needed. Bytes are joined only when a frame spans socket reads, once
    the whole frame has arrived, so a large frame costs linear time.
    """

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0
        self._chunks: list[bytes] = []
        self._available = 0  # unread bytes in _buf[_pos:] and _chunks together
        self._fragments: list[bytes] = []
        self._fragmented_opcode = 0

    def feed(self, data: bytes) -> None:
        """Add bytes read from the socket."""
        if self._pos >= len(self._buf) and not self._chunks:
            self._buf, self._pos = data, 0
        else:
            self._chunks.append(data)
        self._available += len(data)

    def next(self) -> tuple[int, bytes] | None:
        """The next message or control frame, or None until more bytes are fed."""
        while True:
            frame = self._frame()
            if frame is None:
                return None
            fin, opcode, payload = frame
            if opcode in _DATA:
                if self._fragments:
                    raise ProtocolViolation("a new message began inside a fragmented one")
                if fin:
                    return opcode, payload
                self._fragments.append(payload)
                self._fragmented_opcode = opcode
            elif opcode == CONTINUATION:
                if not self._fragments:
                    raise ProtocolViolation("a continuation frame with no message to continue")
                self._fragments.append(payload)
                if fin:
                    whole = b"".join(self._fragments)
                    self._fragments.clear()
                    return self._fragmented_opcode, whole
            elif opcode in _CONTROL:
                if not fin or len(payload) > _MAX_CONTROL_PAYLOAD:
                    raise ProtocolViolation(f"control frame {opcode:#x} fragmented or too long")
                return opcode, payload
            else:
                raise ProtocolViolation(f"unknown opcode {opcode:#x}")

    def _frame(self) -> tuple[bool, int, bytes] | None:
        if self._available < 2:
            return None
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 2:
            buf, pos = self._join()
        first, second = buf[pos], buf[pos + 1]
        if second & 0x80:
            raise ProtocolViolation("a masked frame from the server")
        if first & 0x70:
            raise ProtocolViolation("reserved bits set without a negotiated extension")
        length = second & 0x7F
        head = 2
        if length >= 126:
            head = 4 if length == 126 else 10
            if self._available < head:
                return None
            if len(buf) - pos < head:
                buf, pos = self._join()
            length = int.from_bytes(buf[pos + 2 : pos + head], "big")
        end = pos + head + length
        if self._available < head + length:
            return None
        if len(buf) < end:
            buf, pos = self._join()
            end = pos + head + length
        self._pos = end
        self._available -= head + length
        return bool(first & 0x80), first & 0x0F, buf[pos + head : end]

    def _join(self) -> tuple[bytes, int]:
        """Put every unread byte in one buffer (only when a frame spans socket reads)."""
        self._buf = b"".join([self._buf[self._pos :], *self._chunks])
        self._pos = 0
        self._chunks.clear()
        return self._buf, 0
