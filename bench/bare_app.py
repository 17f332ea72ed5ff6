"""The floor to measure callrec against: a bare ASGI app doing only the unavoidable work of an
UpdateCallRecording — Basic auth (a cached secret compared in constant time), form parsing, one
durable SQLite write through a group commit, and a ~700-byte JSON answer. With `--no-write`, the
same without the write: the issue's other reference figure, to calibrate this machine.

Run by bench/update_recording.py; not part of callrec.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hmac
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

ACCOUNT = "AC" + "0" * 32
TOKEN = "0" * 32
AUTHORIZATION = b"Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode())
TEMPLATE = {
    "account_sid": ACCOUNT,
    "api_version": "2010-04-01",
    "call_sid": "",
    "conference_sid": None,
    "channels": 1,
    "date_created": "Fri, 14 Oct 2016 21:56:34 +0000",
    "date_updated": "",
    "start_time": "Fri, 14 Oct 2016 21:56:34 +0000",
    "price": None,
    "price_unit": None,
    "duration": None,
    "sid": "",
    "source": "StartCallRecordingAPI",
    "status": "",
    "error_code": None,
    "encryption_details": None,
    "track": "both",
    "uri": "",
}


class GroupWriter:
    """One thread, one connection; all waiting writes share a transaction and one fsync."""

    def __init__(self, path: str) -> None:
        self.jobs: queue.SimpleQueue[tuple[str, str, asyncio.Future[None]]] = queue.SimpleQueue()
        self.path = path
        self.loop = asyncio.get_running_loop()
        threading.Thread(target=self.run, daemon=True).start()

    def run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS rec (sid TEXT PRIMARY KEY, status TEXT, at INT)")
        conn.execute("CREATE TABLE IF NOT EXISTS ev (id INTEGER PRIMARY KEY, sid TEXT, kind TEXT)")
        while True:
            batch = [self.jobs.get()]
            while True:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            conn.execute("BEGIN IMMEDIATE")
            for sid, status, _ in batch:
                conn.execute("SAVEPOINT u")
                conn.execute(
                    "INSERT INTO rec VALUES (?, ?, ?) ON CONFLICT (sid) DO UPDATE"
                    " SET status = excluded.status, at = excluded.at",
                    (sid, status, time.time_ns()),
                )
                conn.execute("INSERT INTO ev (sid, kind) VALUES (?, ?)", (sid, status))
                conn.execute("RELEASE u")
            conn.execute("COMMIT")
            futures = [future for _, _, future in batch]
            self.loop.call_soon_threadsafe(_resolve, futures)

    async def write(self, sid: str, status: str) -> None:
        future: asyncio.Future[None] = self.loop.create_future()
        self.jobs.put((sid, status, future))
        await future


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def make_app(db_path: str, write: bool = True) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    writer: GroupWriter | None = None

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal writer
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                writer = GroupWriter(db_path)
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert writer is not None
        auth = dict(scope["headers"]).get(b"authorization", b"")
        if not hmac.compare_digest(auth, AUTHORIZATION):
            return await _answer(send, 401, b'{"code":20003,"status":401}')
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        form = dict(parse_qsl(body.decode("ascii"), strict_parsing=False))
        status = form.get("Status")
        if status not in ("in-progress", "paused", "stopped"):
            return await _answer(send, 400, b'{"code":400,"status":400}')
        parts = scope["path"].split("/")
        sid = parts[-1].removesuffix(".json")
        if write:
            await writer.write(sid, status)
        answer = dict(TEMPLATE, sid=sid, call_sid=parts[-3], status=status, uri=scope["path"])
        answer["date_updated"] = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        await _answer(send, 200, json.dumps(answer).encode())

    return app


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument(
        "--no-write", action="store_true", help="answer without the SQLite write (calibration)"
    )
    args = parser.parse_args()
    app = make_app(args.db, write=not args.no_write)
    uvicorn.run(app, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
