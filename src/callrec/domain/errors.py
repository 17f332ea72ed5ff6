"""What the domain refuses, in its own words. `api.errors` maps each to a Twilio code.

DomainError
├── NotFound                  the thing named does not exist (or is hidden)
├── InvalidParameter          a request field is missing or malformed
├── CallNotInProgress         a realtime operation on a call that is not in progress
├── TransitionNotAllowed      the recording or call cannot move to the state asked for
└── SeveralActiveRecordings   `Twilio.CURRENT` is ambiguous
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal the domain makes."""


class NotFound(DomainError):
    pass


class InvalidParameter(DomainError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


class CallNotInProgress(DomainError):
    pass


class TransitionNotAllowed(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SeveralActiveRecordings(DomainError):
    pass
