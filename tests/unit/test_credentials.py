"""Secret hashing and sealing."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from callrec.credentials import Sealer, hash_secret, new_secret, verify_secret


def test_hash_verifies_only_the_same_secret() -> None:
    secret = new_secret()
    stored = hash_secret(secret)
    assert secret not in stored
    assert verify_secret(secret, stored)
    assert not verify_secret(secret + "x", stored)
    assert not verify_secret(secret, "garbage")
    assert hash_secret(secret) != stored  # salted


def test_sealer_key_is_made_once_and_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALLREC_SECRET_KEY", raising=False)
    first = Sealer.for_data_dir(tmp_path)
    sealed = first.seal("token")
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    assert Sealer.for_data_dir(tmp_path).unseal(sealed) == "token"
    assert Sealer(Fernet.generate_key()).unseal(sealed) is None


def test_key_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key()
    monkeypatch.setenv("CALLREC_SECRET_KEY", key.decode())
    sealed = Sealer.for_data_dir(tmp_path).seal("token")
    assert not (tmp_path / "secret.key").exists()
    assert Sealer(key).unseal(sealed) == "token"
