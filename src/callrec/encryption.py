"""Twilio's Voice Recording Encryption (CONTRACT.md §12): a recording's WAV encrypted with a
fresh AES-256-GCM content key, the key wrapped with the account's RSA public key (OAEP, SHA-256,
MGF1-SHA-256), so that only the holder of the private key can listen to it."""

from __future__ import annotations

import base64
import binascii
import os
import re

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callrec.domain.errors import InvalidPublicKey
from callrec.domain.model import EncryptionDetails

KEY_BITS = 2048
EXPONENT = 65537
CEK_BYTES = 32  # AES-256
IV_BYTES = 12  # the GCM nonce
_ARMOR = re.compile(r"-----(BEGIN|END) [A-Z ]+-----")


def normalized_public_key(text: str) -> str:
    """The key as PEM, if it is one Twilio accepts: X.509 SubjectPublicKeyInfo, with or without
    its armor lines, RSA, 2048 bits, exponent 65537. InvalidPublicKey says why not."""
    if "RSA PUBLIC KEY" in text:
        raise InvalidPublicKey(InvalidPublicKey.UNREADABLE)  # PKCS#1, not SubjectPublicKeyInfo
    body = "".join(_ARMOR.sub("", text).split())
    try:
        key = serialization.load_der_public_key(base64.b64decode(body, validate=True))
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        raise InvalidPublicKey(InvalidPublicKey.UNREADABLE) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidPublicKey(InvalidPublicKey.NOT_RSA)
    if key.key_size != KEY_BITS:
        raise InvalidPublicKey(InvalidPublicKey.WRONG_SIZE)
    if key.public_numbers().e != EXPONENT:
        raise InvalidPublicKey(InvalidPublicKey.WRONG_EXPONENT)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def encrypt(content: bytes, public_key_sid: str, pem: str) -> tuple[bytes, EncryptionDetails]:
    """`content` encrypted (ciphertext then the 16-byte tag), and what its owner needs to
    decrypt it. The content key exists only in this call."""
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    cek, iv = AESGCM.generate_key(bit_length=CEK_BYTES * 8), os.urandom(IV_BYTES)
    sealed = AESGCM(cek).encrypt(iv, content, None)
    wrapped = key.encrypt(cek, OAEP)
    details = EncryptionDetails(
        public_key_sid, base64.b64encode(wrapped).decode(), base64.b64encode(iv).decode()
    )
    return sealed, details


OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
