"""A fast status-callback receiver for bench/callbacks.py: answers 204 at once and remembers
when each callback arrived (monotonic clock, comparable across processes on one machine).
`GET /results` returns them. Not part of callrec."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

arrivals: list[tuple[str, str, float]] = []  # (recording sid, event, monotonic seconds)


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/results":
        payload = json.dumps(arrivals).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": payload})
        return
    params = dict(parse_qsl(body.decode()))
    event = params.get("CallrecEvent") or params.get("RecordingStatus") or ""
    arrivals.append((params.get("RecordingSid") or "", event, time.monotonic()))
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    uvicorn.run(app, port=parser.parse_args().port, log_level="warning", access_log=False)
