"""Secrets sealed at rest: authenticated encryption under a key ring (docs/webhook-secrets.md).

A key ring is written `<key id>:<base64 of 32 random bytes>`, comma-separated, the current
key first (WEBHOOK_SECRET_KEYS). Sealing uses the current key: AES-256-GCM with a random
96-bit nonce, and associated data naming where the value is stored (`binding`), so that a
sealed value copied to another row, or another column, does not open. A sealed value is
text, `<key id>:<base64url(nonce + ciphertext + tag)>`: it names the key that opens it, so
the older keys of the ring still open what they sealed until a rekey seals it again under
the current one.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")
KEY_BYTES = 32
NONCE_BYTES = 12


class KeyRingError(ValueError):
    """The key ring's text does not parse (the message never holds key material)."""


class Unreadable(Exception):
    """A sealed value that does not open: unknown key, altered, or bound to another place."""


def binding(*parts: str) -> bytes:
    """Associated data naming where a value is stored (table and column, then the row's
    ids, which never hold a NUL)."""
    return "\x00".join(parts).encode()


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Keys by id, the first the current one (it seals; every one of them opens)."""

    ids: tuple[str, ...]
    ciphers: dict[str, AESGCM] = field(repr=False, compare=False)

    @property
    def current(self) -> str:
        return self.ids[0]

    def seal(self, plaintext: bytes, bound_to: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self.ciphers[self.current].encrypt(nonce, plaintext, bound_to)
        return f"{self.current}:{base64.urlsafe_b64encode(sealed).decode()}"

    def open(self, sealed: str, bound_to: bytes) -> bytes:
        key_id, _, text = sealed.partition(":")
        cipher = self.ciphers.get(key_id)
        if cipher is None:
            raise Unreadable(f"sealed under key {key_id!r}, which is not in the key ring")
        try:
            raw = base64.urlsafe_b64decode(text.encode())
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], bound_to)
        except (binascii.Error, ValueError, InvalidTag):
            raise Unreadable(f"does not open with key {key_id!r} for this place") from None


def _key(entry: str) -> tuple[str, AESGCM]:
    key_id, colon, text = entry.partition(":")
    key_id = key_id.strip()
    if not colon or not KEY_ID.fullmatch(key_id):
        # Not echoed: a key written without its id would be.
        raise KeyRingError("each key is <id>:<base64>, the id 1-32 of [A-Za-z0-9_.-]")
    try:
        key = base64.b64decode(text.strip().encode(), altchars=b"-_", validate=True)
    except binascii.Error:
        raise KeyRingError(f"key {key_id!r} is not base64") from None
    if len(key) != KEY_BYTES:
        raise KeyRingError(f"key {key_id!r} must be {KEY_BYTES} bytes, got {len(key)}")
    return key_id, AESGCM(key)


def parse(text: str) -> KeyRing:
    """The key ring written in `text` (see the module's docstring)."""
    keys = [_key(entry) for entry in text.split(",") if entry.strip()]
    if not keys:
        raise KeyRingError("the key ring holds no key")
    ids = tuple(key_id for key_id, _ in keys)
    if len(set(ids)) != len(ids):
        raise KeyRingError(f"key ids must be unique: {', '.join(ids)}")
    return KeyRing(ids, dict(keys))
