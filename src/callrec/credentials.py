"""Secrets: making them, hashing them for storage, checking them, and sealing auth tokens.

Secrets are stored as salted scrypt hashes, so a stolen database does not yield working
credentials even for user-chosen tokens. scrypt is deliberately slow (~tens of ms); the API layer
keeps a short-lived cache of verified secrets so only the first request of a client pays for it.

An auth token is also kept *sealed* (encrypted with the server's key): status callbacks must be
signed with it (HMAC-SHA1, Twilio's scheme), and `callrec serve` shows it to its user. API key
secrets are never needed again, so they are not sealed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_ENV = "CALLREC_SECRET_KEY"


def new_secret() -> str:
    """32 lower-case hex digits, the shape of a Twilio auth token."""
    return secrets.token_hex(16)


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    """Check `secret` against a stored hash, in constant time with respect to the digest."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    actual = _scrypt(secret, bytes.fromhex(salt), int(n), int(r), int(p))
    return hmac.compare_digest(actual, bytes.fromhex(digest))


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)


class Sealer:
    """Encrypts auth tokens at rest with the server's key (Fernet: AES-128-CBC + HMAC)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._key = key

    def derive(self, purpose: str) -> bytes:
        """A key of its own for `purpose`, from the same secret (every process of a deployment
        shares it, so they all derive the same one)."""
        return hmac.new(self._key, purpose.encode("utf-8"), hashlib.sha256).digest()

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> Sealer:
        """The key comes from $CALLREC_SECRET_KEY, else from `<data-dir>/secret.key` (made on
        first use, readable by its owner only). Several processes must share one key."""
        env = os.environ.get(KEY_ENV)
        if env:
            return cls(env.encode("ascii"))
        path = data_dir / "secret.key"
        if not path.exists():
            _make_key(path)
        return cls(path.read_bytes().strip())

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode("utf-8"))

    def unseal(self, sealed: bytes) -> str | None:
        """The secret, or None if it was sealed with another key."""
        try:
            return self._fernet.decrypt(sealed).decode("utf-8")
        except InvalidToken:
            return None


def _make_key(path: Path) -> None:
    """A new key at `path`, unless another process made one first. Written aside, then linked
    into place: several processes starting together on one data directory all read one whole
    key, whichever of them made it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(Fernet.generate_key())
        file.flush()
        os.fsync(file.fileno())
    try:
        os.link(draft, path)
    except FileExistsError:
        pass  # another process's key is the key
    finally:
        draft.unlink()


def fingerprint(secret: str, key: bytes) -> bytes:
    """A fast keyed digest of a secret, for the in-memory cache of verified credentials."""
    return hashlib.blake2b(secret.encode("utf-8"), key=key, digest_size=32).digest()


def parse_basic(header: str) -> tuple[str, str] | None:
    """(username, secret) from an `Authorization: Basic …` value (RFC 7617), or None."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, secret = decoded.partition(":")
    return (username, secret) if colon else None
