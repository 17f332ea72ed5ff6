"""The signature scheme against the SDK's own test vector, and the retry rules."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

from callrec.callbacks.policy import DEFAULT_BACKOFF, Failure, Policy, split
from callrec.callbacks.signing import is_valid, signature

URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": ["CA1234567890ABCDE"],
    "Caller": ["+14158675309"],
    "Digits": ["1234"],
    "From": ["+14158675309"],
    "To": ["+18005551212"],
}


def test_the_sdk_test_vector() -> None:
    assert signature("12345", URL, PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


class MultiDict(dict[str, list[str]]):
    """What the SDK's validator expects for repeated fields (Flask's has `getall`)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def test_the_sdk_validator_accepts_what_we_sign() -> None:
    params = {"b": ["2", "1", "2"], "a": ["x"]}
    mine = signature("secret", "http://h/p?q=1", params)
    assert RequestValidator("secret").validate("http://h/p?q=1", MultiDict(params), mine)
    assert is_valid("secret", ["ws://h/p", "http://h/p?q=1"], mine, params)
    assert not is_valid("other", ["http://h/p?q=1"], mine, params)


def test_fragment_overrides_and_is_stripped() -> None:
    url, policy = split("https://a.test/cb?x=1#rc=1&rp=4xx&ct=250&rt=1500&tt=2000")
    assert url == "https://a.test/cb?x=1"
    assert policy.retries == 1
    assert policy.retried == {Failure.CLIENT, Failure.TOO_MANY}
    assert (policy.connect_timeout, policy.read_timeout, policy.total_timeout) == (0.25, 1.5, 2.0)
    assert split("https://a.test/cb#rp=all")[1].retried == set(Failure)
    assert split("https://a.test/cb")[1] == Policy()


def test_default_schedule() -> None:
    policy = Policy()
    first = policy.next_attempt(1, Failure.CONNECT, 0)
    assert first == DEFAULT_BACKOFF[0]
    assert first is not None
    assert first <= 10_000_000  # the first retry within ten seconds
    assert policy.next_attempt(1, Failure.CLIENT, 0) is None  # a plain 4xx is final
    assert policy.next_attempt(len(DEFAULT_BACKOFF) + 1, Failure.SERVER, 0) is None
    assert policy.next_attempt(len(DEFAULT_BACKOFF), Failure.TOO_MANY, 0) is not None
