"""Routes of the Accounts v1 PublicKeys resource (CONTRACT.md §12.1): `/v1/Credentials/PublicKeys`,
served here as Twilio serves it at accounts.twilio.com (point the SDK's `client.accounts.base_url`
at callrec). The account is the one the credentials name, or `AccountSid`, a subaccount of it."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from callrec.api import forms, paging, params, render
from callrec.api.auth import authorize_principal
from callrec.api.context import Services
from callrec.api.errors import invalid, not_found
from callrec.api.resource import Resource
from callrec.dates import iso8601_seconds
from callrec.domain.model import PublicKey
from callrec.ids import ACCOUNT_SID, PUBLIC_KEY_SID, is_sid

KEYS = "/v1/Credentials/PublicKeys"
KEY = "/v1/Credentials/PublicKeys/{sid}"
MAX_NAME = 64


def public_key(key: PublicKey, base_url: str) -> dict[str, Any]:
    """The resource: never the key itself."""
    return {
        "sid": key.sid,
        "account_sid": key.account_sid,
        "friendly_name": key.friendly_name,
        "date_created": iso8601_seconds(key.created_at),
        "date_updated": iso8601_seconds(key.updated_at),
        "url": f"{base_url}/v1/Credentials/PublicKeys/{key.sid}",
    }


def routes(services: Services) -> list[Route]:
    keys = services.public_keys

    async def create(request: Request) -> ASGIApp:
        principal = await authorize_principal(services.accounts, request)
        form = await forms.body(request)
        pem = params.required(form, "PublicKey")
        account_sid = form.get("AccountSid") or principal.account_sid
        if not is_sid(ACCOUNT_SID, account_sid) or not await services.accounts.may_act_on(
            principal, account_sid
        ):
            raise invalid("AccountSid", "AccountSid must be your account or a subaccount of it")
        key = await keys.create(account_sid, pem, _name(form))
        return render.json_response(public_key(key, services.base_url(request)), 201)

    async def list_(request: Request) -> ASGIApp:
        principal = await authorize_principal(services.accounts, request)
        page = paging.parse(forms.query(request))
        rows = await keys.find(principal.account_sid, page.request)
        base_url = services.base_url(request)
        items = [public_key(key, base_url) for _, key in rows[: page.size]]
        body = paging.meta_envelope("credentials", f"{base_url}{KEYS}", page, rows, items)
        return render.json_response(body)

    async def fetch(request: Request) -> ASGIApp:
        principal = await authorize_principal(services.accounts, request)
        key = await keys.fetch(principal.account_sid, _sid(request))
        return render.json_response(public_key(key, services.base_url(request)))

    async def update(request: Request) -> ASGIApp:
        principal = await authorize_principal(services.accounts, request)
        form = await forms.body(request)
        key = await keys.rename(principal.account_sid, _sid(request), _name(form))
        return render.json_response(public_key(key, services.base_url(request)))

    async def delete(request: Request) -> ASGIApp:
        principal = await authorize_principal(services.accounts, request)
        await keys.delete(principal.account_sid, _sid(request))
        return Response(status_code=204)

    return [
        Route(KEYS, Resource(post=create, get=list_)),
        Route(KEY, Resource(get=fetch, post=update, delete=delete)),
    ]


def _name(form: forms.Form) -> str:
    name = form.get("FriendlyName") or ""
    if len(name) > MAX_NAME:
        raise invalid("FriendlyName", f"FriendlyName must be at most {MAX_NAME} characters")
    return name


def _sid(request: Request) -> str:
    sid: str = request.path_params["sid"]
    if not is_sid(PUBLIC_KEY_SID, sid):
        raise not_found(request.url.path)
    return sid
