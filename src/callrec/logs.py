"""The server's log: one line per request and per notable event, as text or as JSON
(`--log-format`). A request's line carries its id, which its answer carries too
(`Twilio-Request-Id`, as Twilio's answers do). No line holds a secret, a token, a signature, a
query string or audio: requests are logged by method, path, status and time only."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

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


def request_answered(answered: Answered) -> None:
    if not REQUESTS.isEnabledFor(logging.INFO):
        return
    milliseconds = round(answered.seconds * 1000, 2)
    REQUESTS.info(
        "%s %s %s %s %.2f ms", answered.request_id, answered.method, answered.path,
        answered.status, milliseconds,
        extra={"fields": {
            "request_id": answered.request_id, "method": answered.method,
            "path": answered.path, "route": answered.route, "status": answered.status,
            "duration_ms": milliseconds,
        }},
    )  # fmt: skip
