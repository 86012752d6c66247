"""A minimal WebSocket client for the room benchmark's viewers (RFC 6455, permessage-deflate).

The ``websockets`` client spends ~30 µs of CPU on every message it receives; 10,000 viewers
at ~6.7 frames per second would need two cores for the client alone, on a machine whose two
cores the server shares. A viewer only needs to: shake hands, send ``hello``, receive, inflate,
count, answer pings and note the close code. This does exactly that on an ``asyncio.Protocol``
(a few µs per message), so that what the benchmark measures is the server.

Frames from the server are never masked; frames to it are (with a random key). Fragmented
messages are reassembled. Only what a server that follows RFC 6455 and RFC 7692 sends is
handled; anything else closes the connection with 1002.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import zlib
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

OnMessage = Callable[[bytes], None]
_DEFLATE_TAIL = b"\x00\x00\xff\xff"
_OP_CONT, _OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class HandshakeError(Exception):
    """The server did not answer ``101 Switching Protocols``."""


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``key`` repeated (RFC 6455 section 5.3)."""
    n = len(payload)
    if not n:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(
        n, "little"
    )


def encode_frame(opcode: int, payload: bytes, key: bytes | None = None) -> bytes:
    """One final client frame (masked with ``key``, random when None)."""
    key = os.urandom(4) if key is None else key
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + key + mask(payload, key)


def parse_extensions(value: str) -> tuple[int, bool] | None:
    """``(server window bits, server_no_context_takeover)`` of an accepted permessage-deflate,
    from a ``Sec-WebSocket-Extensions`` response header; None when it was not accepted."""
    for extension in value.split(","):
        name, *params = (p.strip() for p in extension.split(";"))
        if name != "permessage-deflate":
            continue
        bits, no_takeover = 15, False
        for param in params:
            key, _, val = param.partition("=")
            if key.strip() == "server_max_window_bits" and val:
                bits = int(val.strip().strip('"'))
            elif key.strip() == "server_no_context_takeover":
                no_takeover = True
        return bits, no_takeover
    return None


class WireClient(asyncio.Protocol):
    """One client connection. ``on_message`` gets each whole (inflated) message."""

    def __init__(self, path: str, host: str, *, compression: bool, on_message: OnMessage) -> None:
        self.path = path
        self.host = host
        self.compression = compression
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self.open: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self.received = 0  # messages, including the first
        self.buffer = b""
        self.upgraded = False
        self.inflater: zlib._Decompress | None = None
        self.window_bits = 15
        self.no_takeover = False
        self.fragments: list[bytes] = []
        self.fragmented_compressed = False

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: {self.host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if self.compression:  # what browsers offer
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        data = self.buffer + data if self.buffer else data
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = data
                return
            try:
                self._upgrade(data[:end].decode("latin-1"))
            except HandshakeError as exc:
                self.buffer = b""
                if not self.open.done():
                    self.open.set_exception(exc)
                self._abort()
                return
            data = data[end + 4 :]
        self.buffer = self._frames(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_code is None:
            self.close_code = 1006
        if not self.open.done():
            self.open.set_exception(ConnectionError(f"closed before the handshake ({exc})"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    # -- client API -------------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_frame(_OP_TEXT, text.encode()))

    def close(self, code: int = 1000) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_frame(_OP_CLOSE, code.to_bytes(2, "big")))
            self.transport.close()

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # -- internals --------------------------------------------------------------------------

    def _upgrade(self, head: str) -> None:
        status, *header_lines = head.split("\r\n")
        parts = status.split(" ", 2)
        if len(parts) < 2 or parts[1] != "101":
            raise HandshakeError(status)
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        accepted = parse_extensions(headers.get("sec-websocket-extensions", ""))
        if accepted is not None:
            self.window_bits, self.no_takeover = accepted
            self.inflater = zlib.decompressobj(-self.window_bits)
        self.upgraded = True
        self.open.set_result(None)

    def _frames(self, data: bytes) -> bytes:
        """Handle every whole frame in ``data``; returns the incomplete rest."""
        pos, size = 0, len(data)
        while size - pos >= 2:
            b0, b1 = data[pos], data[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
            if b1 & 0x80:  # a server never masks
                self._fail()
                return b""
            if size - pos < head + length:
                break
            payload = data[pos + head : pos + head + length]
            pos += head + length
            if not self._frame(b0, payload):
                return b""
        return data[pos:] if pos < size else b""

    def _frame(self, b0: int, payload: bytes) -> bool:
        opcode, fin, rsv1 = b0 & 0x0F, b0 & 0x80, b0 & 0x40
        if opcode in (_OP_TEXT, _OP_BINARY):
            if not fin:
                self.fragments, self.fragmented_compressed = [payload], bool(rsv1)
                return True
            self._message(payload, bool(rsv1))
        elif opcode == _OP_CONT:
            self.fragments.append(payload)
            if fin:
                whole, self.fragments = b"".join(self.fragments), []
                self._message(whole, self.fragmented_compressed)
        elif opcode == _OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.close(self.close_code if self.close_code != 1005 else 1000)
            return False
        elif opcode == _OP_PING:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(encode_frame(_OP_PONG, payload))
        elif opcode != _OP_PONG:
            self._fail()
            return False
        return True

    def _message(self, payload: bytes, compressed: bool) -> None:
        if compressed:
            if self.inflater is None:
                self._fail()
                return
            payload = self.inflater.decompress(payload + _DEFLATE_TAIL)
            if self.no_takeover:
                self.inflater = zlib.decompressobj(-self.window_bits)
        self.received += 1
        self.on_message(payload)

    def _fail(self) -> None:
        self.close_code = 1002
        self.close(1002)


async def connect(
    url: str,
    on_message: OnMessage,
    *,
    compression: bool,
    rcvbuf: int | None = None,
    mss: int | None = None,
) -> WireClient:
    """Open ``ws://host:port/path`` and wait for the upgrade. ``rcvbuf`` shrinks the kernel
    receive buffer and ``mss`` the segment size (both set before connecting: the TCP window
    is small from the start, and the server's send buffer sized as on a real network).
    Callers bound the time (``asyncio.timeout``)."""
    parts = urlsplit(url)
    if parts.scheme != "ws" or parts.hostname is None:
        raise ValueError(f"only ws:// URLs: {url!r}")
    host, port = parts.hostname, parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if mss is not None:  # loopback's 64 KB segments let the sender buffer megabytes
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    _, client = await loop.create_connection(
        lambda: WireClient(path, f"{host}:{port}", compression=compression, on_message=on_message),
        sock=sock,
    )
    try:
        await client.open
    except BaseException:
        client._abort()
        raise
    return client
