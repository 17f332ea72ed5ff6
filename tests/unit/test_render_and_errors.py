"""Dates as Twilio writes them, and the one table from domain errors to Twilio codes."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callrec.api.errors import from_domain
from callrec.dates import rfc2822
from callrec.domain import errors


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2999, 12, 31)))
def test_rfc2822_matches_the_standard_library(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC, microsecond=0)
    micros = int(aware.timestamp()) * 1_000_000 + moment.microsecond
    assert rfc2822(micros) == email.utils.format_datetime(aware)
    parsed = email.utils.parsedate_to_datetime(rfc2822(micros) or "")
    assert parsed == aware


def test_rfc2822_example_from_the_spec() -> None:
    assert rfc2822(1476482194_000_000) == "Fri, 14 Oct 2016 21:56:34 +0000"
    assert rfc2822(None) is None


PUBLIC_KEY_REASONS = (
    errors.InvalidPublicKey.NOT_RSA,
    errors.InvalidPublicKey.WRONG_SIZE,
    errors.InvalidPublicKey.WRONG_EXPONENT,
    errors.InvalidPublicKey.UNREADABLE,
)


def _every_domain_error() -> list[errors.DomainError]:
    made: list[errors.DomainError] = []
    for kind in errors.DomainError.__subclasses__():
        if kind is errors.InvalidParameter:
            made.append(errors.InvalidParameter("Status", "Status is wrong"))
        elif kind is errors.TransitionNotAllowed:
            made.append(errors.TransitionNotAllowed("no"))
        elif kind is errors.InvalidPublicKey:
            made += [errors.InvalidPublicKey(reason) for reason in PUBLIC_KEY_REASONS]
        else:
            made.append(kind())
    return made


@pytest.mark.parametrize("error", _every_domain_error(), ids=lambda e: type(e).__name__)
def test_every_domain_error_has_a_twilio_answer(error: errors.DomainError) -> None:
    answer = from_domain(error, "/2010-04-01/x")
    assert 400 <= answer.status < 500
    body = answer.body()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{body['code']}"


def test_codes_of_the_contract() -> None:
    path = "/p"
    assert (
        from_domain(errors.NotFound(), path).code,
        from_domain(errors.NotFound(), path).status,
    ) == (20404, 404)
    assert from_domain(errors.CallNotInProgress(), path).code == 21220
    assert from_domain(errors.SeveralActiveRecordings(), path).code == 16108
    assert from_domain(errors.NotFound(), path).message == "The requested resource /p was not found"
    assert from_domain(errors.EncryptedMedia(), path).code == 16109
    codes = [from_domain(errors.InvalidPublicKey(r), path).code for r in PUBLIC_KEY_REASONS]
    assert codes == [70101, 70102, 70103, 70104]
