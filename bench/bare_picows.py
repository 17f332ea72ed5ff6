"""A floor for the streams benchmark: a bare `picows` server on uvloop that does the same work per
message as bench/bare_streams.py: a Twilio `media` message parsed (orjson), its payload decoded
(binascii.a2b_base64) and appended to the call's buffer; a binary message (raw PCM, when the URL
has `sampleRate`) appended as it is. A buffer is emptied when it holds 8 KiB (io's default buffer
size, what callrec's capture file holds before a write), so the memory measured is the
connections', not the audio's. Each frame's lag is measured as callrec measures it
(callrec.media.hub.LagHistogram): for JSON, from the stream's `start` by the frame's timestamp;
for binary, from the handshake by the samples received before the frame. On SIGTERM it prints its
figures as JSON (bench/bare_figures.py: the lag over the measured seconds too, from SIGUSR1).
Messages are taken whole (the load generator sends one frame a message; a fragmented message
would be counted as its pieces). Not part of callrec.

    python bench/bare_picows.py --port PORT
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
from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

from callrec.media.hub import LagHistogram

BUFFER = 8192
lag = LagHistogram()
frames = 0
emptied = 0  # bytes appended to buffers since emptied
streams: list[Stream] = []  # every call's, for the bytes appended, at the end


class Stream(WSListener):
    """One call: its buffer, and where its stream's clock began."""

    __slots__ = ("began", "binary", "buffer", "rate", "received", "width")

    def __init__(self, request: WSUpgradeRequest) -> None:
        query = parse_qs(urlsplit(request.path.decode()).query)
        self.binary = "sampleRate" in query
        self.rate = int(query.get("sampleRate", ["8000"])[0])
        self.width = 2 * int(query.get("channels", ["1"])[0])  # bytes per sample, all channels
        self.began = time.monotonic()
        self.buffer = bytearray()
        self.received = 0  # samples per channel so far (binary)
        streams.append(self)

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.began = time.monotonic()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        global frames
        kind = frame.msg_type
        if kind is WSMsgType.TEXT:
            message = orjson.loads(frame.get_payload_as_memoryview())
            event = message.get("event")
            if event == "media":
                media = message["media"]
                self.buffer += binascii.a2b_base64(media["payload"])
                if len(self.buffer) >= BUFFER:
                    self._empty()
                frames += 1
                lag.add(time.monotonic() - self.began - int(media["timestamp"]) / 1000)
            elif event == "start":
                self.began = time.monotonic()
        elif kind is WSMsgType.BINARY:
            data = frame.get_payload_as_memoryview()
            frames += 1
            lag.add(time.monotonic() - self.began - self.received / self.rate)
            self.buffer += data
            if len(self.buffer) >= BUFFER:
                self._empty()
            self.received += len(data) // self.width
        elif kind is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()

    def _empty(self) -> None:
        global emptied
        emptied += len(self.buffer)
        self.buffer.clear()


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    measured = MeasuredLag(lag)
    server = await ws_create_server(Stream, "127.0.0.1", port)
    await stop
    server.close()
    figures = measured.figures(frames, emptied + sum(len(stream.buffer) for stream in streams))
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(main(parser.parse_args().port))
