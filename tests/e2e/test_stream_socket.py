"""The listener that splits each connection between the media streams' WebSocket and the HTTP
API (callrec.front): whatever way a request arrives, it is served by the right side."""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import socket
import struct
import time
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from callrec.delayed_acks import INTERVAL_SECONDS
from tests.conftest import AccountKeys, eventually
from tests.support.audio import basic_auth, ws_url
from tests.support.server import ServerProcess
from tests.support.streamer import tone


def _status(client: Any, call_sid: str) -> str | None:
    calls = client.calls.list()
    return next((call.status for call in calls if call.sid == call_sid), None)


def _read_head(sock: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, f"closed after {head!r}"
        head += chunk
    return head


def test_the_streams_path_without_an_upgrade_is_a_twilio_404(server: ServerProcess) -> None:
    response = httpx.get(f"{server.base_url}/streams?sampleRate=8000")
    assert response.status_code == 404
    assert response.json()["code"] == 20404


def test_one_connection_serves_request_after_request(server: ServerProcess) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        sockets = set()
        for _ in range(3):
            connection.request("GET", "/_callrec/health")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b'{"status":"ok"}')
            sockets.add(id(connection.sock))
        assert len(sockets) == 1  # the same connection throughout
    finally:
        connection.close()


def test_a_handshake_arriving_a_byte_at_a_time_is_admitted(
    server: ServerProcess, account: AccountKeys, client: Any
) -> None:
    call_sid = "CA" + secrets.token_hex(16)
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    (authorization,) = basic_auth(account.sid, account.token).values()
    request = (
        f"GET /streams?sampleRate=8000&callSid={call_sid} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: {authorization}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in request:
            sock.send(bytes([byte]))
            time.sleep(0.0005)
        assert _read_head(sock).startswith(b"HTTP/1.1 101")
        assert eventually(lambda: _status(client, call_sid) == "in-progress")


def test_a_refused_handshake_is_answered_before_the_upgrade(server: ServerProcess) -> None:
    wrong = basic_auth("AC" + "0" * 32, "not-the-token")
    response = httpx.get(
        ws_url(server).replace("ws://", "http://"),
        headers={
            **wrong,
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": base64.b64encode(b"k" * 16).decode(),
            "Sec-WebSocket-Version": "13",
        },
    )
    assert response.status_code == 403


def test_fragmented_messages_count_as_whole_ones(
    server: ServerProcess, account: AccountKeys, client: Any
) -> None:
    """A client may split a message into frames: `start`, the media and `stop` all arrive
    whole, and the recording holds the audio they carried."""
    call_sid = "CA" + secrets.token_hex(16)
    start = {
        "event": "start",
        "start": {"accountSid": account.sid, "callSid": call_sid, "tracks": ["inbound"]},
    }
    with connect(ws_url(server), additional_headers=basic_auth(account.sid, account.token)) as ws:
        ws.send(_pieces(start))
        assert eventually(lambda: _status(client, call_sid) == "in-progress")
        recording = client.calls(call_sid).recordings.create()
        began = time.monotonic()
        for frame in range(100):  # 2 s
            payload = base64.b64encode(tone(440, frame).astype("<i2").tobytes()[:160]).decode()
            media = {"timestamp": str(frame * 20), "payload": payload}
            ws.send(_pieces({"event": "media", "media": media}))
            time.sleep(max(0.0, began + (frame + 1) * 0.02 - time.monotonic()))
        ws.send(_pieces({"event": "stop"}))
        assert eventually(lambda: _status(client, call_sid) == "completed")
    done = eventually(lambda: _completed(client, call_sid, recording.sid))
    assert done.duration == "2"


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="Linux's delayed ACKs")
def test_a_stream_is_acked_every_second_frame_even_after_a_gap(
    server: ServerProcess, account: AccountKeys
) -> None:
    """TCP's delayed ACKs: one ACK for two frames, as long as the stream lasts. A gap of more
    than 40 ms makes Linux ACK every frame from then on; callrec puts the socket back, so a
    stream does not cost twice the ACKs (callrec.delayed_acks)."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as media servers do
    headers = basic_auth(account.sid, account.token)
    pcm = tone(440, 0).astype("<i2").tobytes()[:320]  # 20 ms at 8 kHz
    with connect(ws_url(server, "?sampleRate=8000"), sock=sock, additional_headers=headers) as ws:
        ws.send(pcm)
        time.sleep(0.1)  # the frame's ACK is sent by the timer: the socket left the mode
        time.sleep(INTERVAL_SECONDS + 0.1)
        before = _segments_received(sock)
        began = time.monotonic()
        for frame in range(100):
            ws.send(pcm)
            time.sleep(max(0.0, began + (frame + 1) * 0.02 - time.monotonic()))
        time.sleep(0.1)
        acks = _segments_received(sock) - before  # callrec sends nothing else meanwhile
    # One for two frames; a hiccup of more than 40 ms (a loaded machine) costs an ACK a frame
    # until the next sweep, half a second at most. Without the sweeps: 100.
    assert 45 <= acks <= 75


def _segments_received(sock: socket.socket) -> int:
    """`tcpi_segs_in` of Linux's `struct tcp_info`."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("<I", info, 140)[0])


def _pieces(message: dict[str, Any]) -> list[str]:
    text = json.dumps(message)
    third = len(text) // 3
    return [text[:third], text[third : 2 * third], text[2 * third :]]


def _completed(client: Any, call_sid: str, sid: str) -> Any:
    recording = client.calls(call_sid).recordings(sid).fetch()
    return recording if recording.status == "completed" else None
