"""The SecretBox of BOOKKEEPER_CREDENTIALS_KEY: cryptography's MultiFernet.

The variable holds one or more Fernet keys (urlsafe base64 of 32 random bytes, as
`Fernet.generate_key()` makes them), comma-separated. The first encrypts; every one
decrypts — so a key is rotated by putting a new one first, running `bookkeeper credentials
rotate-key` (every row re-encrypted with the first key), then dropping the old one.
Fernet is AES-128-CBC with HMAC-SHA256 and a timestamp: authenticated, so a changed row
fails to decrypt instead of yielding another secret.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bookkeeper.application.credentials import CredentialsUnreadable


class InvalidCredentialsKey(ValueError):
    """BOOKKEEPER_CREDENTIALS_KEY holds something that is not a Fernet key (the message
    never quotes it)."""


def parse_keys(raw: str | None) -> tuple[str, ...]:
    """The comma-separated keys of the variable, blanks dropped."""
    if raw is None:
        return ()
    return tuple(part.strip() for part in raw.split(",") if part.strip())


class FernetBox:
    """Encrypts with the first key, decrypts with any (MultiFernet)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise InvalidCredentialsKey("no key given")
        fernets: list[Fernet] = []
        for index, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                raise InvalidCredentialsKey(
                    f"key {index} of BOOKKEEPER_CREDENTIALS_KEY is not a Fernet key "
                    "(urlsafe base64 of 32 bytes; make one with `bookkeeper credentials "
                    "new-key`)"
                ) from None
        self._fernet = MultiFernet(fernets)
        self.key_count = len(fernets)

    def __repr__(self) -> str:
        return f"FernetBox({self.key_count} key(s))"

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise CredentialsUnreadable(
                "stored credentials do not decrypt with any key of BOOKKEEPER_CREDENTIALS_KEY"
            ) from None

    def rotate(self, ciphertext: str) -> str:
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise CredentialsUnreadable(
                "stored credentials do not decrypt with any key of BOOKKEEPER_CREDENTIALS_KEY; "
                "put the key they were encrypted with back (after the new first key)"
            ) from None


def secret_box(raw: str | None) -> FernetBox | None:
    """The box of the variable's keys; None when it is unset."""
    keys = parse_keys(raw)
    return FernetBox(keys) if keys else None


def new_key() -> str:
    """A fresh Fernet key."""
    return Fernet.generate_key().decode("ascii")
