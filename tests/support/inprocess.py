"""callrec served by uvicorn in a thread of the test process, for the few tests that must put a
fake below the HTTP layer (a slow encoder, say) while a real client talks to the real server."""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from callrec.server import Config, build
from tests.support.server import Deployment, free_port


@dataclass(frozen=True)
class InProcess:
    base_url: str
    account_sid: str
    auth_token: str
    data_dir: Path


@contextlib.contextmanager
def serving(deployment: Deployment) -> Iterator[InProcess]:
    threshold = gc.get_threshold()
    port = free_port()
    built = build(
        Config(
            deployment.data_dir,
            answer_delay_seconds=0.1,
            base_url=f"http://127.0.0.1:{port}",
            database=deployment.database,
        )
    )
    account, token = built.accounts.create_account("in-process test")
    server = uvicorn.Server(built.uvicorn_config(port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the in-process server did not start"
        time.sleep(0.02)
    try:
        yield InProcess(f"http://127.0.0.1:{port}", account.sid, token, deployment.data_dir)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        gc.unfreeze()  # the server tuned the collector for itself (server.tune_gc)
        gc.set_threshold(*threshold)
