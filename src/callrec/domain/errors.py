"""What the domain refuses, in its own words. `api.errors` maps each to a Twilio code.

DomainError
├── NotFound                  the thing named does not exist (or is hidden)
├── InvalidParameter          a request field is missing or malformed
├── CallNotInProgress         a realtime operation on a call that is not in progress
├── TransitionNotAllowed      the recording or call cannot move to the state asked for
├── SeveralActiveRecordings   `Twilio.CURRENT` is ambiguous
├── InvalidPublicKey          a public key that cannot encrypt recordings (and why)
└── EncryptedMedia            an encrypted recording's audio asked for in another form
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


class InvalidPublicKey(DomainError):
    """A public key that cannot encrypt recordings: why, as Twilio tells it (70101-70104)."""

    NOT_RSA = "not an RSA key"
    WRONG_SIZE = "not 2048 bits long"
    WRONG_EXPONENT = "its public exponent is not 65537"
    UNREADABLE = "not an X.509 SubjectPublicKeyInfo key in PEM or base64"

    def __init__(self, reason: str) -> None:
        super().__init__(f"The public key cannot be used: {reason}")
        self.reason = reason


class EncryptedMedia(DomainError):
    """The recording's audio is encrypted: only its WAV, as stored, can be served."""
