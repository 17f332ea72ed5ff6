"""`callrec serve`: the account it shows, and what a second start on the same data finds."""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import answered_call
from tests.support.client import sdk_client
from tests.support.server import Deployment, ServerProcess


def test_environment_account_is_created_and_used(deployment: Deployment) -> None:
    sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    env = {"TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": token}
    server = ServerProcess(deployment, env=env).start()
    try:
        assert (server.account_sid, server.auth_token) == (sid, token)
        call = answered_call(sdk_client(server.base_url, sid, token))
        assert call.account_sid == sid
    finally:
        server.stop()
    again = ServerProcess(deployment, env=env).start()
    try:
        client = sdk_client(again.base_url, sid, token)
        assert client.calls(call.sid).fetch().status == "in-progress"
    finally:
        again.stop()


def test_environment_token_must_match_existing_account(deployment: Deployment) -> None:
    sid = "AC" + secrets.token_hex(16)
    first = ServerProcess(
        deployment, env={"TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": "a" * 32}
    )
    first.start().stop()
    second = ServerProcess(
        deployment, env={"TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": "b" * 32}
    )
    with pytest.raises(RuntimeError, match="different auth token"):
        second.start()


def test_without_environment_the_first_account_is_shown_again(deployment: Deployment) -> None:
    first = ServerProcess(deployment).start()
    first.stop()
    second = ServerProcess(deployment).start()
    second.stop()
    assert (first.account_sid, first.auth_token) == (second.account_sid, second.auth_token)
    assert first.account_sid.startswith("AC")
    assert len(first.auth_token) == 32
