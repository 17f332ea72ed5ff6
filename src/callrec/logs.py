"""The server's log: one line per request and per notable event, as text or as JSON
(`--log-format`). A request's line carries its id, which its answer carries too
(`Twilio-Request-Id`, as Twilio's answers do). No line holds a secret, a token, a signature, a
query string or audio: requests are logged by method, path, status and time only."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

#: The logger whose name the request lines carry (they do not go through it: RequestLines).
REQUESTS = logging.getLogger("callrec.requests")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


@dataclass(frozen=True, slots=True)
class Answered:
    """An HTTP request, answered."""

    request_id: str
    method: str
    path: str
    #: The route's pattern (`/2010-04-01/Accounts/{account_sid}/Calls.json`), or "unmatched".
    route: str
    status: int
    seconds: float


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure(log_format: str) -> None:
    """Log INFO and above to standard error, as `log_format` ("text" or "json") says."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


class RequestLines:
    """Each request's line, formatted here and written to standard error in batches.

    Measured on UpdateCallRecording (docs/BENCHMARKS.md): through `logging` a line cost ~38 us
    of CPU an update (22 % of throughput); formatted here and written one by one, ~20 us, half
    of it the write. So lines are gathered and written together, at most FLUSH_SECONDS after
    the first of them (and at shutdown): a process killed outright may lose that much."""

    FLUSH_SECONDS = 0.05
    FLUSH_BYTES = 64 * 1024

    def __init__(self, log_format: str, fd: int = 2) -> None:
        self._json = log_format == "json"
        self._fd = fd
        self._pending: list[bytes] = []
        self._size = 0
        self._flushing: asyncio.TimerHandle | None = None
        self._second, self._stamp = -1, ""

    def __call__(self, answered: Answered) -> None:
        line = self._line(answered)
        self._pending.append(line)
        self._size += len(line)
        if self._size >= self.FLUSH_BYTES:
            self.flush()
        elif self._flushing is None:
            loop = asyncio.get_running_loop()
            self._flushing = loop.call_later(self.FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        if self._flushing is not None:
            self._flushing.cancel()
            self._flushing = None
        if self._pending:
            data, self._pending, self._size = b"".join(self._pending), [], 0
            os.write(self._fd, data)

    def _line(self, answered: Answered) -> bytes:
        now = time.time()
        milliseconds = round(answered.seconds * 1000, 2)
        if self._json:
            return orjson.dumps(
                {
                    "time": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
                    "level": "info", "logger": REQUESTS.name,
                    "message": f"{answered.request_id} {answered.method} {answered.path}"
                    f" {answered.status} {milliseconds:.2f} ms",
                    "request_id": answered.request_id, "method": answered.method,
                    "path": answered.path, "route": answered.route, "status": answered.status,
                    "duration_ms": milliseconds,
                },
                option=orjson.OPT_APPEND_NEWLINE,
            )  # fmt: skip
        second = int(now)
        if second != self._second:  # the date changes once a second: formatted once
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return (
            f"{self._stamp},{int(now * 1000) % 1000:03d} INFO {REQUESTS.name}"
            f" {answered.request_id} {answered.method} {answered.path} {answered.status}"
            f" {milliseconds:.2f} ms\n"
        ).encode()
