"""Sealing of credentials and secret values at rest.

A sealed value is the text ``enc:`` followed by a Fernet token. The first key
of ``KUBEORCH_ENCRYPTION_KEYS`` seals; every listed key unseals, so keys can be
rotated by putting a new one first and re-sealing (``manage.py rotate_keys``).
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

PREFIX = "enc:"
MASK = "********"


class SealError(ValueError):
    """A sealed value could not be opened with any configured key."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.KUBEORCH_ENCRYPTION_KEYS))


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(plaintext: str) -> str:
    """Encrypt a value with the current primary key."""
    token = _current().encrypt(plaintext.encode())
    return PREFIX + token.decode()


def unseal(sealed: str) -> str:
    """Decrypt a sealed value with any configured key."""
    if not is_sealed(sealed):
        raise SealError("value is not sealed")
    try:
        return _current().decrypt(sealed[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise SealError("no configured key opens this value") from exc


def reseal(sealed: str) -> str:
    """Re-encrypt a sealed value with the current primary key."""
    token = _current().rotate(sealed[len(PREFIX) :].encode())
    return PREFIX + token.decode()
