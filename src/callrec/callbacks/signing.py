"""`X-Twilio-Signature` (CONTRACT.md §8): HMAC-SHA1 over the full URL followed by every POST
parameter, names sorted, each name's values sorted and without duplicates; keyed with the
account's auth token; base64. The official SDK's `RequestValidator` is the tests' oracle."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping


def signature(token: str, url: str, params: Mapping[str, Iterable[str]] | None = None) -> str:
    message = url
    for name in sorted(params or {}):
        for value in sorted(set((params or {})[name])):
            message += name + value
    digest = hmac.new(token.encode("utf-8"), message.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def is_valid(
    token: str, urls: Iterable[str], given: str, params: Mapping[str, Iterable[str]] | None = None
) -> bool:
    """Whether `given` signs any of `urls` (the same URL as seen through different schemes)."""
    return any(hmac.compare_digest(signature(token, url, params), given) for url in urls)
