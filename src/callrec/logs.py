"""The server's log: one line per request and per notable event, as text or as JSON
(`--log-format`). A request's line carries its id, which its answer carries too
(`Twilio-Request-Id`, as Twilio's answers do). No line holds a secret, a token, a signature, a
query string or audio: requests are logged by method, path, status and time only."""

from __future__ import annotations

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
    """Each request's line, formatted here and written straight to standard error. Through
    `logging` a line cost about 28 us of formatting per request: measured, 22 % fewer
    UpdateCallRecordings a second (docs/BENCHMARKS.md); this way it costs a few."""

    def __init__(self, log_format: str, fd: int = 2) -> None:
        self._json = log_format == "json"
        self._fd = fd

    def __call__(self, answered: Answered) -> None:
        now = time.time()
        milliseconds = round(answered.seconds * 1000, 2)
        if self._json:
            line = orjson.dumps(
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
        else:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
            line = (
                f"{stamp},{int(now * 1000) % 1000:03d} INFO {REQUESTS.name} {answered.request_id}"
                f" {answered.method} {answered.path} {answered.status} {milliseconds:.2f} ms\n"
            ).encode()
        os.write(self._fd, line)
