"""List paging (CONTRACT.md §5): `PageSize`, `Page`, `PageToken`, and the list envelope.

`next_page_uri` carries a keyset token (`PA` + the position of the page's last item), so a list
followed page by page sees every item that existed when it began exactly once, even while new
items arrive. `Page` alone (no token) is an offset. All URIs are relative and echo the filters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from callrec.api.errors import ApiError, invalid
from callrec.api.forms import Form
from callrec.storage.base import PageRequest, Position

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_PAGE = 10**9
_TOKEN = re.compile(r"PA([0-9]{1,19})_([0-9]{1,19})")


@dataclass(frozen=True, slots=True)
class Paging:
    size: int
    page: int
    token: str | None
    request: PageRequest


def parse(form: Form) -> Paging:
    size = _integer(form, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page = _integer(form, "Page", 0, 0, MAX_PAGE)
    token = form.get("PageToken") or None
    if token is None:
        return Paging(size, page, None, PageRequest(size, offset=page * size))
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise ApiError(400, 21481, f"Invalid PageToken '{token}'")
    after = Position(int(match.group(1)), int(match.group(2)))
    return Paging(size, page, token, PageRequest(size, after=after))


def _integer(form: Form, name: str, default: int, low: int, high: int) -> int:
    value = form.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise invalid(name, f"{name} must be an integer from {low} to {high}, not '{value}'")
    return int(value)


def envelope(
    key: str,
    path: str,
    filters: Sequence[tuple[str, str]],
    paging: Paging,
    rows: Sequence[tuple[Position, Any]],
    items: list[dict[str, Any]],
) -> dict[str, Any]:
    """The list body: exactly the envelope keys and `key` (any other key breaks the SDK).

    `rows` holds up to `paging.size + 1` rows; the extra one only says another page follows.
    """
    shown = items[: paging.size]
    start = paging.page * paging.size
    links = _links(path, filters, paging, rows)
    return {
        "end": start + len(shown) - 1 if shown else 0,
        "first_page_uri": links["first"],
        "next_page_uri": links["next"],
        "page": paging.page,
        "page_size": paging.size,
        "previous_page_uri": links["previous"],
        "start": start,
        "uri": links["this"],
        key: shown,
    }


def meta_envelope(
    key: str,
    url: str,
    paging: Paging,
    rows: Sequence[tuple[Position, Any]],
    items: list[dict[str, Any]],
) -> dict[str, Any]:
    """The list body of Twilio's v1 APIs: the items and a `meta` whose URLs are absolute (the
    SDK follows `next_page_url` as it is, CONTRACT.md §12.1)."""
    links = _links(url, (), paging, rows)
    return {
        key: items[: paging.size],
        "meta": {
            "first_page_url": links["first"],
            "key": key,
            "next_page_url": links["next"],
            "page": paging.page,
            "page_size": paging.size,
            "previous_page_url": links["previous"],
            "url": links["this"],
        },
    }


def _links(
    base: str,
    filters: Sequence[tuple[str, str]],
    paging: Paging,
    rows: Sequence[tuple[Position, Any]],
) -> dict[str, str | None]:
    """The first, next, previous and this page's addresses (`rows`: up to size + 1 rows; the
    extra one only says another page follows, and the last shown is the next page's token)."""

    def page(number: int, token: str | None = None) -> str:
        query = [*filters, ("PageSize", str(paging.size)), ("Page", str(number))]
        if token is not None:
            query.append(("PageToken", token))
        return f"{base}?{urlencode(query)}"

    next_page = None
    if len(rows) > paging.size:
        last = rows[paging.size - 1][0]
        next_page = page(paging.page + 1, f"PA{last.created_at}_{last.row_id}")
    return {
        "first": page(0),
        "next": next_page,
        "previous": page(paging.page - 1) if paging.page > 0 else None,
        "this": page(paging.page, paging.token),
    }
