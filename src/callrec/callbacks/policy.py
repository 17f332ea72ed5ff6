"""When to retry a status callback (pure): the default schedule, and Twilio's per-URL overrides
in the fragment (`#rc=3&rp=all&ct=1000&rt=5000&tt=10000`), which never reach the wire."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from callrec.domain.model import MICROS_PER_SECOND, Micros

#: Delay before each retry: the first within seconds (a receiver that was restarting gets its
#: callback soon), the last about ten minutes after the first attempt.
DEFAULT_BACKOFF: tuple[Micros, ...] = tuple(
    seconds * MICROS_PER_SECOND for seconds in (5, 30, 120, 420)
)
MAX_RETRIES = 10


class Failure(StrEnum):
    CONNECT = "ct"  # could not connect, or the connection timed out
    READ = "rt"  # connected, but no answer in time
    CLIENT = "4xx"
    SERVER = "5xx"
    TOO_MANY = "429"


#: What is retried when the URL does not say (`rp`): never a plain 4xx.
DEFAULT_RETRIED = frozenset({Failure.CONNECT, Failure.READ, Failure.SERVER, Failure.TOO_MANY})


@dataclass(frozen=True, slots=True)
class Policy:
    retries: int = len(DEFAULT_BACKOFF)
    retried: frozenset[Failure] = DEFAULT_RETRIED
    backoff: tuple[Micros, ...] = DEFAULT_BACKOFF
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_timeout: float = 15.0

    def next_attempt(self, attempts: int, failure: Failure, now: Micros) -> Micros | None:
        """When to try again after `attempts` attempts failed with `failure`; None: give up."""
        if failure not in self.retried or attempts > self.retries:
            return None
        return now + self.backoff[min(attempts - 1, len(self.backoff) - 1)]

    @classmethod
    def with_backoff(cls, delays: tuple[Micros, ...]) -> Policy:
        """The default policy with other retry delays: as many retries as delays."""
        return cls(retries=len(delays), backoff=delays)


def split(url: str, default: Policy = Policy()) -> tuple[str, Policy]:
    """The URL to call (no fragment) and the policy its fragment asks for."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(fragment="")), _policy(parts.fragment, default)


def _policy(fragment: str, policy: Policy) -> Policy:
    options = dict(parse_qsl(fragment))
    retries = _number(options.get("rc"))
    if retries is not None:
        policy = replace(policy, retries=min(int(retries), MAX_RETRIES))
    if "rp" in options:
        policy = replace(policy, retried=_retried(options["rp"]))
    return replace(
        policy,
        connect_timeout=_seconds(options.get("ct"), policy.connect_timeout),
        read_timeout=_seconds(options.get("rt"), policy.read_timeout),
        total_timeout=_seconds(options.get("tt"), policy.total_timeout),
    )


def _seconds(millis: str | None, default: float) -> float:
    value = _number(millis)
    return value / 1000 if value is not None and value > 0 else default


def _retried(text: str) -> frozenset[Failure]:
    names = {name.strip() for name in text.split(",")}
    if "all" in names:
        return frozenset(Failure)
    chosen = {failure for failure in Failure if failure.value in names}
    if Failure.CLIENT in chosen:
        chosen.add(Failure.TOO_MANY)
    return frozenset(chosen)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
