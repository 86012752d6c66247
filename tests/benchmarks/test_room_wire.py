"""The benchmark's minimal WebSocket client: masking, framing, the permessage-deflate answer,
and the parser fed whole, split and fragmented frames (no network)."""

from __future__ import annotations

import asyncio
import zlib

import pytest

from liveshop.benchmarks.room_wire import (
    HandshakeError,
    WireClient,
    encode_frame,
    mask,
    parse_extensions,
)


def test_mask_is_its_own_inverse_and_matches_the_rfc_example() -> None:
    key = bytes([0x37, 0xFA, 0x21, 0x3D])  # RFC 6455 section 5.7: a masked "Hello"
    assert mask(b"Hello", key) == bytes([0x7F, 0x9F, 0x4D, 0x51, 0x58])
    assert mask(mask(b"x" * 1001, key), key) == b"x" * 1001
    assert mask(b"", key) == b""


@pytest.mark.parametrize(("size", "header"), [(5, 2), (125, 2), (126, 4), (70_000, 10)])
def test_client_frames_are_final_masked_with_the_right_length_field(size: int, header: int) -> None:
    key = b"\x01\x02\x03\x04"
    frame = encode_frame(0x1, b"a" * size, key)
    assert frame[0] == 0x81
    assert frame[1] & 0x80  # masked
    assert len(frame) == header + 4 + size
    assert mask(frame[header + 4 :], key) == b"a" * size


def test_parse_extensions() -> None:
    header = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    assert parse_extensions(header) == (12, False)
    assert parse_extensions("permessage-deflate; server_no_context_takeover") == (15, True)
    assert parse_extensions("x-other, permessage-deflate") == (15, False)
    assert parse_extensions("") is None


class Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True


def server_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        return bytes([b0, n]) + payload
    if n < 1 << 16:
        return bytes([b0, 126]) + n.to_bytes(2, "big") + payload
    return bytes([b0, 127]) + n.to_bytes(8, "big") + payload


def upgraded(extensions: str = "") -> tuple[WireClient, Transport, list[bytes]]:
    got: list[bytes] = []
    client = WireClient("/ws", "h:1", compression=True, on_message=got.append)
    transport = Transport()
    client.connection_made(transport)  # type: ignore[arg-type]
    request = transport.written.pop()
    assert request.startswith(b"GET /ws HTTP/1.1\r\n")
    assert b"permessage-deflate; client_max_window_bits" in request
    head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    if extensions:
        head += f"Sec-WebSocket-Extensions: {extensions}\r\n"
    client.data_received((head + "\r\n").encode())
    assert client.open.done()
    return client, transport, got


async def test_frames_split_anywhere_arrive_whole_and_in_order() -> None:
    client, _, got = upgraded()
    messages = [b"a" * 10, b"b" * 300, b"c" * 70_000]
    stream = b"".join(server_frame(0x1, m) for m in messages)
    for i in range(0, len(stream), 7):  # 7 bytes at a time
        client.data_received(stream[i : i + 7])
    assert got == messages
    assert client.received == 3


async def test_fragmented_and_compressed_messages() -> None:
    client, _, got = upgraded("permessage-deflate; server_max_window_bits=12")
    deflate = zlib.compressobj(wbits=-12)
    texts = [b'{"seq":1,"events":[]}', b'{"seq":1,"events":[]}']  # the 2nd uses the context
    for text in texts:
        body = deflate.compress(text) + deflate.flush(zlib.Z_SYNC_FLUSH)
        assert body.endswith(b"\x00\x00\xff\xff")
        client.data_received(server_frame(0x1, body[:-4], rsv1=True))
    client.data_received(server_frame(0x1, b"he", fin=False))
    client.data_received(server_frame(0x0, b"ll", fin=False))
    client.data_received(server_frame(0x0, b"o"))
    assert got == [*texts, b"hello"]


async def test_ping_is_answered_and_close_code_recorded() -> None:
    client, transport, _ = upgraded()
    client.data_received(server_frame(0x9, b"p1"))
    pong = transport.written.pop()
    assert pong[0] == 0x8A and pong[1] == 0x80 | 2
    assert mask(pong[6:], pong[2:6]) == b"p1"
    client.data_received(server_frame(0x8, (4008).to_bytes(2, "big") + b"too slow"))
    assert client.close_code == 4008
    assert transport.closing
    client.connection_lost(None)
    assert client.closed.result() == 4008


async def test_a_refused_upgrade_fails_the_open() -> None:
    client = WireClient("/ws", "h:1", compression=False, on_message=lambda _: None)
    client.connection_made(Transport())  # type: ignore[arg-type]
    client.data_received(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
    with pytest.raises(HandshakeError):
        await asyncio.wait_for(client.open, 1)


async def test_a_lost_connection_without_close_frame_is_1006() -> None:
    client, _, _ = upgraded()
    client.connection_lost(ConnectionResetError())
    assert await client.closed == 1006
