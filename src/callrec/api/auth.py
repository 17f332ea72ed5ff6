"""HTTP Basic authentication with an account's sid and auth token, or an API key (§9)."""

from __future__ import annotations

from starlette.requests import Request

from callrec.api.errors import not_found, unauthorized
from callrec.api.headers import header
from callrec.domain.errors import NotFound
from callrec.ids import ACCOUNT_SID, is_sid
from callrec.service.accounts import AccountService, Principal


async def authorize_principal(accounts: AccountService, request: Request) -> Principal:
    """Who asks, for a resource whose path names no account (Accounts v1): 401 if unknown."""
    authorization = header(request, b"authorization")
    principal = None
    if authorization is not None:
        principal = await accounts.authenticate_basic(authorization)
    if principal is None:
        raise unauthorized()
    return principal


async def authorize(accounts: AccountService, request: Request, account_sid: str) -> Principal:
    """Who asks, if they may act on `account_sid`: 401 for bad or foreign credentials, 404 for
    an account that does not exist."""
    authorization = header(request, b"authorization")
    if authorization is None:
        raise unauthorized()
    principal = await accounts.authenticate_basic(authorization)
    if principal is None:
        raise unauthorized()
    if principal.account_sid == account_sid:
        return principal  # the common case, and a valid sid: it is a known account's
    if not is_sid(ACCOUNT_SID, account_sid):
        raise not_found(request.url.path)
    try:
        allowed = await accounts.may_act_on(principal, account_sid)
    except NotFound:
        raise not_found(request.url.path) from None
    if not allowed:
        raise unauthorized()
    return principal
