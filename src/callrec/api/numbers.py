"""Routes of the IncomingPhoneNumbers resource (CONTRACT.md §13): create, fetch, list, update,
delete — what an app needs to configure the numbers its inbound calls reach."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from callrec.api import forms, paging, params, render
from callrec.api.auth import authorize
from callrec.api.context import Services
from callrec.api.errors import invalid
from callrec.api.resource import Resource
from callrec.domain.model import NumberSettings
from callrec.storage.base import NumberFilter

NUMBERS = "/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers.json"
NUMBER = "/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers/{sid}.json"
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
AREA_CODE = re.compile(r"[2-9][0-9]{2}")
MAX_FRIENDLY_NAME = 64


def _sid(prefix: str) -> Callable[[forms.Form, str], str | None]:
    pattern = re.compile(prefix + r"[0-9a-fA-F]{32}")

    def read(form: forms.Form, name: str) -> str | None:
        value = form.get(name) or None
        if value is not None and not pattern.fullmatch(value):
            raise invalid(name, f"{name} must be a {prefix} sid, not '{value}'")
        return value

    return read


def _choice(*allowed: str) -> Callable[[forms.Form, str], str | None]:
    def read(form: forms.Form, name: str) -> str | None:
        value = form.get(name) or None
        if value is not None and value not in allowed:
            raise invalid(name, f"{name} must be one of {', '.join(allowed)}, not '{value}'")
        return value

    return read


def _text(form: forms.Form, name: str) -> str | None:
    return form.get(name) or None


#: Each writable parameter: the setting it changes and how it is read.
SETTINGS: dict[str, tuple[str, Callable[[forms.Form, str], Any]]] = {
    "ApiVersion": ("api_version", _choice("2010-04-01", "2008-08-01")),
    "VoiceUrl": ("voice_url", params.url),
    "VoiceMethod": ("voice_method", params.http_method),
    "VoiceFallbackUrl": ("voice_fallback_url", params.url),
    "VoiceFallbackMethod": ("voice_fallback_method", params.http_method),
    "VoiceCallerIdLookup": ("voice_caller_id_lookup", params.boolean),
    "VoiceApplicationSid": ("voice_application_sid", _sid("AP")),
    "VoiceReceiveMode": ("voice_receive_mode", _choice("voice", "fax")),
    "TrunkSid": ("trunk_sid", _sid("TK")),
    "StatusCallback": ("status_callback", params.url),
    "StatusCallbackMethod": ("status_callback_method", params.http_method),
    "SmsUrl": ("sms_url", params.url),
    "SmsMethod": ("sms_method", params.http_method),
    "SmsFallbackUrl": ("sms_fallback_url", params.url),
    "SmsFallbackMethod": ("sms_fallback_method", params.http_method),
    "SmsApplicationSid": ("sms_application_sid", _sid("AP")),
    "AddressSid": ("address_sid", _sid("AD")),
    "IdentitySid": ("identity_sid", _sid("RI")),
    "BundleSid": ("bundle_sid", _sid("BU")),
    "EmergencyStatus": ("emergency_status", _choice("Active", "Inactive")),
    "EmergencyAddressSid": ("emergency_address_sid", _sid("AD")),
}
_DEFAULTS = NumberSettings()


def _changes(form: forms.Form) -> dict[str, Any]:
    """The settings the request gives (an empty value puts back the default)."""
    changes = {}
    for name, (setting, read) in SETTINGS.items():
        if form.get(name) is not None:
            value = read(form, name)
            changes[setting] = getattr(_DEFAULTS, setting) if value is None else value
    return changes


def _friendly_name(form: forms.Form) -> str | None:
    value = form.get("FriendlyName") or None
    if value is not None and len(value) > MAX_FRIENDLY_NAME:
        raise invalid("FriendlyName", f"FriendlyName must be at most {MAX_FRIENDLY_NAME} long")
    return value


def routes(services: Services) -> list[Route]:
    async def create(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        form = await forms.body(request)
        phone_number = form.get("PhoneNumber") or None
        area_code = form.get("AreaCode") or None
        if phone_number is not None and not E164.fullmatch(phone_number):
            raise invalid("PhoneNumber", f"PhoneNumber must be in E.164, not '{phone_number}'")
        if area_code is not None and not AREA_CODE.fullmatch(area_code):
            raise invalid("AreaCode", f"AreaCode must be three digits, not '{area_code}'")
        if phone_number is None and area_code is None:
            raise invalid("PhoneNumber", "You must provide an AreaCode or a PhoneNumber")
        settings = NumberSettings(**_changes(form))
        number = await services.numbers.create(
            account_sid, phone_number, area_code, _friendly_name(form), settings
        )
        return render.json_response(render.phone_number(number), 201)

    async def list_(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        query = forms.query(request)
        page = paging.parse(query)
        where = NumberFilter(
            account_sid=account_sid,
            phone_number=query.get("PhoneNumber") or None,
            friendly_name=query.get("FriendlyName") or None,
        )
        echo = [(k, v) for k in ("PhoneNumber", "FriendlyName") if (v := query.get(k) or "")]
        rows = await services.numbers.find(where, page.request)
        items = [render.phone_number(number) for _, number in rows[: page.size]]
        body = paging.envelope("incoming_phone_numbers", request.url.path, echo, page, rows, items)
        return render.json_response(body)

    async def fetch(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        number = await services.numbers.fetch(account_sid, request.path_params["sid"])
        return render.json_response(render.phone_number(number))

    async def update(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        form = await forms.body(request)
        sid = request.path_params["sid"]
        changes = _changes(form)
        number = await services.numbers.update(account_sid, sid, _friendly_name(form), changes)
        return render.json_response(render.phone_number(number))

    async def delete(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        await services.numbers.delete(account_sid, request.path_params["sid"])
        return Response(status_code=204)

    return [
        Route(NUMBERS, Resource(post=create, get=list_)),
        Route(NUMBER, Resource(get=fetch, post=update, delete=delete)),
    ]
