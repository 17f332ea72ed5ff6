"""The floor for the streams benchmark: a bare `websockets` server on uvloop that only parses
and decodes Twilio's media messages (JSON, base64, μ-law) and measures how late each frame is
handled, the same way callrec does. On SIGTERM it prints its figures as JSON. Not part of callrec.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import signal
import time

import uvloop
from websockets.asyncio.server import ServerConnection, serve

from callrec.media.codec import ulaw_decode
from callrec.media.hub import LagHistogram

lag = LagHistogram()
frames = 0


async def handle(connection: ServerConnection) -> None:
    global frames
    began = 0.0
    async for text in connection:
        message = json.loads(text)
        event = message.get("event")
        if event == "media":
            media = message["media"]
            ulaw_decode(base64.b64decode(media["payload"]))
            frames += 1
            lag.add(time.monotonic() - began - int(media["timestamp"]) / 1000)
        elif event == "start":
            began = time.monotonic()


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(handle, "127.0.0.1", port, compression=None):
        await stop
    figures = {
        "frames_received": frames,
        "frame_lag_ms": {"p50": lag.percentile_ms(0.5), "p99": lag.percentile_ms(0.99)},
    }
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(main(parser.parse_args().port))
