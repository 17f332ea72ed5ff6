"""Running callrec in production: Prometheus metrics that count exactly what was done, one log
line per request with the id its answer carries (and no secret in the log), readiness, and a
SIGTERM that ends the process with status 0 (every ServerProcess.stop checks that)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import answered_call, eventually, make_account
from tests.support.audio import basic_auth, ws_url
from tests.support.client import sdk_client
from tests.support.receiver import Receiver
from tests.support.server import Deployment, ServerProcess, free_port
from tests.support.streamer import TwilioStreamer, tone

RECORDING = "/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}/Recordings/{sid}.json"
RECORDINGS = "/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}/Recordings.json"
CALLS = "/2010-04-01/Accounts/{account_sid}/Calls.json"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def observed(deployment: Deployment) -> Iterator[ServerProcess]:
    """A server with its metrics' listener, logging JSON."""
    port = free_port()
    args = ("--metrics-port", str(port), "--log-format", "json")
    server = ServerProcess(deployment, extra_args=args).start()
    server.metrics_url = f"http://127.0.0.1:{port}/metrics"  # type: ignore[attr-defined]
    yield server
    server.stop()


def _scrape(server: ServerProcess) -> Samples:
    """Every sample, by name and labels, parsed with the Prometheus client's own parser."""
    text = httpx.get(server.metrics_url).text  # type: ignore[attr-defined]
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return _value(after, name, **labels) - _value(before, name, **labels)


def test_metrics_move_by_exactly_what_was_done(observed: ServerProcess) -> None:
    server = observed
    client = sdk_client(server.base_url, server.account_sid, server.auth_token)
    receiver = Receiver().start()
    try:
        before = _scrape(server)
        call = answered_call(client)
        recording = client.calls(call.sid).recordings.create(
            recording_status_callback=f"{receiver.base}/status"
        )
        handle = client.calls(call.sid).recordings(recording.sid)
        handle.update(status="paused", pause_behavior="skip")
        paused = _scrape(server)
        handle.update(status="in-progress")
        time.sleep(0.6)
        handle.update(status="stopped")
        assert eventually(lambda: client.recordings(recording.sid).fetch().status == "completed")
        assert eventually(lambda: len(receiver.requests) == 1)
        client.calls(call.sid).update(status="completed")
        after = eventually(
            lambda: (
                (s := _scrape(server))
                and _value(s, "callrec_callbacks_total", outcome="delivered") >= 1
                and s
            )
        )
    finally:
        receiver.stop()

    route = {"method": "POST", "status": "200", "route": RECORDING}
    assert _moved(before, after, "callrec_http_requests_total", **route) == 3
    created = {"method": "POST", "status": "201"}
    assert _moved(before, after, "callrec_http_requests_total", route=RECORDINGS, **created) == 1
    assert _moved(before, after, "callrec_http_requests_total", route=CALLS, **created) == 1
    latency = {"method": "POST", "route": RECORDING}
    assert _moved(before, after, "callrec_http_request_duration_seconds_count", **latency) == 3
    assert _moved(before, after, "callrec_recording_render_duration_seconds_count") == 1
    assert _moved(before, after, "callrec_callbacks_total", outcome="delivered") == 1
    assert _moved(before, after, "callrec_callbacks_total", outcome="dead") == 0
    assert _moved(before, after, "callrec_db_commit_duration_seconds_count") > 0
    assert _value(paused, "callrec_recordings_live", status="paused") == 1
    assert _value(paused, "callrec_calls_live", status="in-progress") == 1
    assert _value(after, "callrec_recordings_live", status="paused") == 0
    assert _value(after, "callrec_calls_live", status="in-progress") == 0
    assert _value(after, "callrec_callbacks_pending") == 0


def test_frames_are_counted_as_received_captured_and_dropped(observed: ServerProcess) -> None:
    server = observed
    account = make_account(server.deployment)
    client = sdk_client(server.base_url, account.sid, account.token)
    call_sid = "CA" + secrets.token_hex(16)
    headers = basic_auth(account.sid, account.token)
    before = _scrape(server)
    streamer = TwilioStreamer(
        ws_url(server), account.sid, call_sid, headers, lambda track, n: tone(440, n)
    ).start()
    try:
        streamer.wait_for_frame(10)
        assert _value(_scrape(server), "callrec_streams_live") == 1
        recording = client.calls(call_sid).recordings.create()
        streamer.wait_for_frame(streamer.sent + 25)
        client.calls(call_sid).recordings(recording.sid).update(status="paused")
        streamer.wait_for_frame(streamer.sent + 25)
    finally:
        streamer.finish()
    assert eventually(lambda: client.recordings(recording.sid).fetch().status == "completed")
    after = _scrape(server)
    received = _moved(before, after, "callrec_media_frames_received_total")
    assert received == 2 * streamer.sent  # a message per track per 20 ms, every one
    captured = _moved(before, after, "callrec_media_frames_captured_total")
    dropped = _moved(before, after, "callrec_media_frames_dropped_paused_total")
    assert captured >= 2 * 25
    assert dropped >= 2 * 25
    assert captured + dropped <= received
    assert _moved(before, after, "callrec_capture_lag_seconds_count") == received
    assert _value(after, "callrec_streams_live") == 0


def test_each_answer_carries_its_request_id_and_the_log_has_no_secret(
    observed: ServerProcess,
) -> None:
    server = observed
    account = make_account(server.deployment)
    client = sdk_client(server.base_url, account.sid, account.token)
    answer = httpx.get(
        f"{server.base_url}/2010-04-01/Accounts/{account.sid}/Calls.json",
        auth=(account.sid, account.token),
    )
    request_id = answer.headers["twilio-request-id"]
    assert request_id.startswith("RQ")
    assert len(request_id) == 34
    missing = httpx.get(f"{server.base_url}/nothing-here")
    assert missing.headers["twilio-request-id"] != request_id

    receiver = Receiver().start()
    try:  # credentials, signed callbacks: nothing of them may be logged
        call = answered_call(client, status_callback=f"{receiver.base}/status")
        client.calls(call.sid).update(status="completed")
        assert eventually(lambda: receiver.requests)
        signature = receiver.requests[0].signature
    finally:
        receiver.stop()
    server.stop()
    lines = [
        json.loads(line) for line in server.log_path.read_text().splitlines() if line[:1] == "{"
    ]
    (line,) = [line for line in lines if line.get("request_id") == request_id]
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert line["path"] == f"/2010-04-01/Accounts/{account.sid}/Calls.json"
    assert line["route"] == CALLS
    assert isinstance(line["duration_ms"], float)
    text = server.log_path.read_text()
    assert account.token not in text
    assert signature not in text
    assert "Basic " not in text


def test_ready_while_serving(observed: ServerProcess) -> None:
    ready = httpx.get(f"{observed.base_url}/_callrec/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}
    assert httpx.get(f"{observed.base_url}/_callrec/health").status_code == 200


def test_sigterm_under_load_keeps_every_answered_change(deployment: Deployment) -> None:
    """Updates in flight when SIGTERM comes are answered, and every change answered is in the
    timeline when the server comes back (exit status 0: checked by stop)."""
    server = ServerProcess(deployment).start()
    client = sdk_client(server.base_url, server.account_sid, server.auth_token)
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create()
    answered: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    url = f"{server.base_url}/2010-04-01/Accounts/{server.account_sid}/Calls/{call.sid}/Recordings"

    def hammer() -> None:
        with httpx.Client(auth=(server.account_sid, server.auth_token), timeout=10) as http:
            while not stop.is_set():
                with lock:  # one change at a time: each answer is one event
                    target = "in-progress" if answered[-1:] == ["paused"] else "paused"
                    try:
                        reply = http.post(f"{url}/{recording.sid}.json", data={"Status": target})
                    except httpx.HTTPError:
                        return  # the server has gone: nothing was promised
                    if reply.status_code == 200:
                        answered.append(target)

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    time.sleep(1.0)
    server.stop()
    stop.set()
    for worker in workers:
        worker.join()
    assert len(answered) > 10

    restarted = ServerProcess(deployment).start()
    try:
        events = httpx.get(
            f"{restarted.base_url}/_callrec/Accounts/{restarted.account_sid}/Recordings/"
            f"{recording.sid}/Events.json",
            auth=(restarted.account_sid, restarted.auth_token),
        ).json()["events"]
        changes = [e["kind"] for e in events if e["kind"] in ("paused", "resumed")]
        assert changes == ["paused" if t == "paused" else "resumed" for t in answered]
    finally:
        restarted.stop()
