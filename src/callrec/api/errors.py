"""Twilio-shaped errors: one exception type, one body shape, one table from domain errors.

Every error answer is exactly `{"code", "message", "more_info", "status"}` (CONTRACT.md §6); the
SDK turns it into `TwilioRestException(status, code, message)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from callrec.domain.errors import (
    CallNotInProgress,
    DomainError,
    EncryptedMedia,
    InvalidParameter,
    InvalidPublicKey,
    NotFound,
    SeveralActiveRecordings,
    TransitionNotAllowed,
)
from callrec.storage.base import StorageError

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"


@dataclass(slots=True)
class ApiError(Exception):
    status: int
    code: int
    message: str
    headers: Mapping[str, str] | None = None

    def body(self) -> dict[str, object]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": MORE_INFO.format(code=self.code),
            "status": self.status,
        }


def not_found(path: str) -> ApiError:
    return ApiError(404, 20404, f"The requested resource {path} was not found")


def unauthorized() -> ApiError:
    return ApiError(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})


def invalid(name: str, message: str) -> ApiError:
    """A missing or malformed parameter (our decision: HTTP 400, code 400, naming it)."""
    return ApiError(400, 400, message or f"Invalid parameter {name}")


#: Twilio's codes for a public key it refuses (CONTRACT.md §12.1).
_PUBLIC_KEY_CODES = {
    InvalidPublicKey.NOT_RSA: 70101,
    InvalidPublicKey.WRONG_SIZE: 70102,
    InvalidPublicKey.WRONG_EXPONENT: 70103,
    InvalidPublicKey.UNREADABLE: 70104,
}


def from_domain(error: DomainError, path: str) -> ApiError:
    """The one table from what the domain refuses to what Twilio answers."""
    match error:
        case NotFound():
            return not_found(path)
        case InvalidParameter(name=name, message=message):
            return invalid(name, message)
        case CallNotInProgress():
            return ApiError(400, 21220, "Invalid call state: the call is not in progress")
        case TransitionNotAllowed(message=message):
            return ApiError(400, 400, message)
        case SeveralActiveRecordings():
            return ApiError(
                400, 16108, "The call has more than one active recording: name one by its sid"
            )
        case InvalidPublicKey(reason=reason):
            return ApiError(400, _PUBLIC_KEY_CODES[reason], str(error))
        case EncryptedMedia():
            return ApiError(
                400, 16109, "Cannot fetch .mp3 encrypted recording, re-request with .wav format"
            )
    return ApiError(500, 20500, "Internal server error")


def from_storage(_: StorageError) -> ApiError:
    return ApiError(503, 20503, "Service unavailable: storage failed; nothing was changed")
