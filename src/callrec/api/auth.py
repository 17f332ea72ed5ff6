"""HTTP Basic authentication with an account's sid and auth token, or an API key (§9)."""

from __future__ import annotations

import base64
import binascii

from starlette.requests import Request

from callrec.api.errors import not_found, unauthorized
from callrec.domain.errors import NotFound
from callrec.ids import ACCOUNT_SID, is_sid
from callrec.service.accounts import AccountService, Principal


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, secret = decoded.partition(":")
    return (username, secret) if colon else None


async def authorize(accounts: AccountService, request: Request, account_sid: str) -> Principal:
    """Who asks, if they may act on `account_sid`: 401 for bad or foreign credentials, 404 for
    an account that does not exist."""
    credentials = basic_credentials(request)
    if credentials is None:
        raise unauthorized()
    principal = await accounts.authenticate(*credentials)
    if principal is None:
        raise unauthorized()
    if not is_sid(ACCOUNT_SID, account_sid):
        raise not_found(request.url.path)
    try:
        allowed = await accounts.may_act_on(principal, account_sid)
    except NotFound:
        raise not_found(request.url.path) from None
    if not allowed:
        raise unauthorized()
    return principal
