"""HTTP Basic with auth tokens and API keys; subaccounts (CONTRACT.md §9)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from tests.conftest import AccountKeys, Raw, answered_call, make_account
from tests.support.client import sdk_client
from tests.support.schemas import check_error
from tests.support.server import ServerProcess


def _calls(server: ServerProcess, account_sid: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(f"{server.base_url}/2010-04-01/Accounts/{account_sid}/Calls.json", **kwargs)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic bm9jb2xvbg=="},  # "nocolon"
    ],
)
def test_missing_or_malformed_credentials(
    server: ServerProcess, account: AccountKeys, headers: dict[str, str]
) -> None:
    response = _calls(server, account.sid, headers=headers)
    assert response.status_code == 401
    check_error(response.json(), 401)
    assert response.json()["code"] == 20003
    assert response.headers["www-authenticate"].startswith("Basic")


def test_wrong_token(server: ServerProcess, account: AccountKeys) -> None:
    response = _calls(server, account.sid, auth=(account.sid, "0" * 32))
    assert (response.status_code, response.json()["code"]) == (401, 20003)


def test_other_accounts_credentials(server: ServerProcess, account: AccountKeys) -> None:
    other = make_account(server.deployment)
    response = _calls(server, account.sid, auth=(other.sid, other.token))
    assert (response.status_code, response.json()["code"]) == (401, 20003)


@pytest.mark.parametrize("path_sid", ["AC" + "f" * 32, "ACnot-a-sid", "Twilio"])
def test_unknown_account_is_404(server: ServerProcess, account: AccountKeys, path_sid: str) -> None:
    response = _calls(server, path_sid, auth=(account.sid, account.token))
    assert (response.status_code, response.json()["code"]) == (404, 20404)
    check_error(response.json(), 404)


def _cli(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "callrec", *args, "--json"], check=True, capture_output=True
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def test_api_key_acts_for_its_account(server: ServerProcess, account: AccountKeys) -> None:
    key = _cli("keys", "create", *server.deployment.args, "--account", account.sid)
    assert key["sid"].startswith("SK")
    assert len(key["sid"]) == 34
    client = sdk_client(server.base_url, key["sid"], key["secret"], account_sid=account.sid)
    call = answered_call(client)
    recording = client.calls(call.sid).recordings.create()
    events = httpx.get(
        f"{server.base_url}/_callrec/Accounts/{account.sid}/Recordings/{recording.sid}/Events.json",
        auth=(key["sid"], key["secret"]),
    ).json()["events"]
    assert events[0]["actor"] == key["sid"]
    wrong = _calls(server, account.sid, auth=(key["sid"], "f" * 32))
    assert wrong.status_code == 401


def test_parent_acts_on_subaccount_never_the_reverse(server: ServerProcess) -> None:
    parent = _cli("accounts", "create", *server.deployment.args)
    child = _cli("accounts", "create", *server.deployment.args, "--parent", parent["account_sid"])
    sibling = make_account(server.deployment, parent=parent["account_sid"])
    assert child["parent_sid"] == parent["account_sid"]

    as_parent = sdk_client(
        server.base_url,
        parent["account_sid"],
        parent["auth_token"],
        account_sid=child["account_sid"],
    )
    call = answered_call(as_parent)
    assert call.account_sid == child["account_sid"]

    as_child = (child["account_sid"], child["auth_token"])
    assert _calls(server, parent["account_sid"], auth=as_child).status_code == 401
    assert _calls(server, sibling.sid, auth=as_child).status_code == 401
    assert _calls(server, child["account_sid"], auth=as_child).status_code == 200


def test_subaccount_of_subaccount_is_refused(server: ServerProcess, account: AccountKeys) -> None:
    child = make_account(server.deployment, parent=account.sid)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "callrec",
            "accounts",
            "create",
            *server.deployment.args,
            "--parent",
            child.sid,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "subaccount" in result.stderr


def test_sdk_sees_401_as_rest_exception(server: ServerProcess, account: AccountKeys) -> None:
    client = sdk_client(server.base_url, account.sid, "f" * 32)
    with pytest.raises(TwilioRestException) as raised:
        client.calls("CA" + "0" * 32).fetch()
    assert (raised.value.status, raised.value.code) == (401, 20003)


def test_raw_fixture_is_authenticated(raw: Raw, account: AccountKeys) -> None:
    assert raw.request("GET", f"/2010-04-01/Accounts/{account.sid}/Calls.json").status_code == 200
