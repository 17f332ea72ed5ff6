"""Lists page by page: every item exactly once at any page size, filters echoed, tokens checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from twilio.base.exceptions import TwilioException

from tests.conftest import Raw, answered_call

COUNT = 23


@pytest.fixture
def recorded(client: Any) -> tuple[Any, list[str]]:
    """A call with COUNT recordings; their sids newest first."""
    call = answered_call(client)
    sids = [client.calls(call.sid).recordings.create().sid for _ in range(COUNT)]
    return call, sids[::-1]


@pytest.mark.parametrize("page_size", [1, 2, 5, 22, 23, 24, 1000])
def test_every_item_once_in_order(client: Any, recorded: Any, page_size: int) -> None:
    call, sids = recorded
    assert [r.sid for r in client.recordings.list(page_size=page_size)] == sids
    assert [r.sid for r in client.calls(call.sid).recordings.list(page_size=page_size)] == sids
    assert [r.sid for r in client.recordings.stream(page_size=page_size)] == sids


def test_items_added_while_paging_do_not_repeat_or_hide_others(client: Any, recorded: Any) -> None:
    call, sids = recorded
    page = client.recordings.page(page_size=5)
    seen = [r.sid for r in page]
    for _ in range(3):
        client.calls(call.sid).recordings.create()
    while (page := page.next_page()) is not None:
        seen.extend(r.sid for r in page)
    assert seen == sids


def test_page_numbers_and_uris(raw: Raw, recorded: Any) -> None:
    call, sids = recorded
    path = f"/2010-04-01/Accounts/{call.account_sid}/Calls/{call.sid}/Recordings.json"
    first = raw.request("GET", path, params={"PageSize": 10}).json()
    assert (first["page"], first["start"], first["end"]) == (0, 0, 9)
    assert first["previous_page_uri"] is None
    assert first["first_page_uri"] == f"{path}?PageSize=10&Page=0"
    second = raw.request("GET", first["next_page_uri"]).json()
    assert (second["page"], second["start"], second["end"]) == (1, 10, 19)
    assert second["previous_page_uri"] == f"{path}?PageSize=10&Page=0"
    third = raw.request("GET", second["next_page_uri"]).json()
    assert (third["start"], third["end"], third["next_page_uri"]) == (20, 22, None)
    assert [
        r["sid"] for r in first["recordings"] + second["recordings"] + third["recordings"]
    ] == sids
    by_offset = raw.request("GET", path, params={"PageSize": 10, "Page": 2}).json()
    assert [r["sid"] for r in by_offset["recordings"]] == sids[20:]


def test_empty_list(raw: Raw, account: Any) -> None:
    body = raw.request("GET", f"/2010-04-01/Accounts/{account.sid}/Recordings.json").json()
    assert (body["recordings"], body["start"], body["end"], body["next_page_uri"]) == (
        [],
        0,
        0,
        None,
    )


def test_date_filters_in_both_forms(client: Any, recorded: Any) -> None:
    call, sids = recorded
    today = datetime.now(UTC).date()
    tomorrow = today + timedelta(days=1)
    calls = client.calls(call.sid).recordings
    assert [r.sid for r in calls.list(date_created=today)] == sids
    assert calls.list(date_created_before=today - timedelta(days=1)) == []
    assert [r.sid for r in calls.list(date_created_after=today)] == sids
    assert calls.list(date_created_after=tomorrow) == []
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    later = datetime.now(UTC) + timedelta(hours=1)
    assert [r.sid for r in client.recordings.list(date_created_after=hour_ago)] == sids
    assert client.recordings.list(date_created_after=later) == []
    assert [r.sid for r in client.recordings.list(date_created_before=later, page_size=4)] == sids


def test_filters_are_echoed_in_page_uris(raw: Raw, recorded: Any) -> None:
    call, _ = recorded
    path = f"/2010-04-01/Accounts/{call.account_sid}/Recordings.json"
    body = raw.request(
        "GET", path, params={"DateCreated>": "2020-01-01", "CallSid": call.sid, "PageSize": 3}
    ).json()
    assert body["next_page_uri"].startswith(
        f"{path}?DateCreated%3E=2020-01-01&CallSid={call.sid}&PageSize=3&Page=1&PageToken=PA"
    )


@pytest.mark.parametrize("token", ["nope", "PA", "PAxyz_1", "PA1_", "PA" + "9" * 30 + "_1"])
def test_forged_page_token_is_21481(raw: Raw, account: Any, token: str) -> None:
    response = raw.request(
        "GET", f"/2010-04-01/Accounts/{account.sid}/Recordings.json", params={"PageToken": token}
    )
    assert (response.status_code, response.json()["code"]) == (400, 21481)


@pytest.mark.parametrize(
    ("name", "value"), [("PageSize", "0"), ("PageSize", "1001"), ("PageSize", "x"), ("Page", "-1")]
)
def test_out_of_range_paging_is_400(raw: Raw, account: Any, name: str, value: str) -> None:
    response = raw.request(
        "GET", f"/2010-04-01/Accounts/{account.sid}/Calls.json", params={name: value}
    )
    assert (response.status_code, response.json()["code"]) == (400, 400)
    assert name in response.json()["message"]


def test_sdk_page_size_above_limit_is_refused(client: Any) -> None:
    # The SDK reports a refused page as a plain TwilioException carrying the answer.
    with pytest.raises(TwilioException) as raised:
        client.recordings.page(page_size=1001)
    assert raised.value.args[1].status_code == 400
