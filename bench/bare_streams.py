"""A floor for the streams benchmark: a bare `websockets` server on uvloop that does the same work
per message as bench/bare_picows.py: a Twilio `media` message parsed (orjson), its payload decoded
(binascii.a2b_base64) and appended to the call's buffer; a binary message (raw PCM, when the URL
has `sampleRate`) appended as it is. A buffer is emptied when it holds 8 KiB (io's default buffer
size, what callrec's capture file holds before a write), so the memory measured is the
connections', not the audio's. Each frame's lag is measured as callrec measures it
(callrec.media.hub.LagHistogram): for JSON, from the stream's `start` by the frame's timestamp;
for binary, from the handshake by the samples received before the frame. Messages are read as
bytes (`recv(decode=False)`), as picows hands them over. On SIGTERM it prints its figures as
JSON (bench/bare_figures.py: the lag over the measured seconds too, from SIGUSR1). Not part of
callrec.

    python bench/bare_streams.py --port PORT
"""

from __future__ import annotations

import argparse
import asyncio
import binascii
import json
import signal
import time
from urllib.parse import parse_qs, urlsplit

import orjson
import uvloop
from bare_figures import MeasuredLag
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from callrec.media.hub import LagHistogram

BUFFER = 8192
lag = LagHistogram()
frames = 0
emptied = 0  # bytes appended to buffers since emptied
buffers: list[bytearray] = []  # every call's, for the bytes appended, at the end


async def handle(connection: ServerConnection) -> None:
    global frames, emptied
    assert connection.request is not None
    query = parse_qs(urlsplit(connection.request.path).query)
    buffer = bytearray()
    buffers.append(buffer)
    began = time.monotonic()
    try:
        if "sampleRate" in query:
            rate = int(query["sampleRate"][0])
            width = 2 * int(query.get("channels", ["1"])[0])  # bytes per sample, all channels
            received = 0  # samples per channel so far
            while True:
                data = await connection.recv(decode=False)
                frames += 1
                lag.add(time.monotonic() - began - received / rate)
                buffer += data
                if len(buffer) >= BUFFER:
                    emptied += len(buffer)
                    buffer.clear()
                received += len(data) // width
        while True:
            message = orjson.loads(await connection.recv(decode=False))
            event = message.get("event")
            if event == "media":
                media = message["media"]
                buffer += binascii.a2b_base64(media["payload"])
                if len(buffer) >= BUFFER:
                    emptied += len(buffer)
                    buffer.clear()
                frames += 1
                lag.add(time.monotonic() - began - int(media["timestamp"]) / 1000)
            elif event == "start":
                began = time.monotonic()
    except ConnectionClosed:
        pass


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    measured = MeasuredLag(lag)
    async with serve(handle, "127.0.0.1", port, compression=None, max_queue=None):
        await stop
    figures = measured.figures(frames, emptied + sum(len(buffer) for buffer in buffers))
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(main(parser.parse_args().port))
