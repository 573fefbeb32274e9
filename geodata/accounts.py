"""Review-service accounts: user names, roles and argon2 password hashes.

Three roles, each including the one before: ``viewer`` reads the review page and history,
``reviewer`` also records decisions, ``admin`` also manages users. Passwords are stored only
as argon2id hashes (salted, memory-hard; argon2-cffi's recommended parameters); there is no
default password, the first admin is created with ``residua users add NAME --role admin``.
"""

from __future__ import annotations

import re
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

#: Roles in increasing order of what they may do.
ROLES: tuple[str, ...] = ("viewer", "reviewer", "admin")
#: User names: a letter or digit, then letters, digits, space, ``.``, ``_``, ``@``, ``'`` or ``-``; at most 64.
USER_NAME = re.compile(r"^\w[\w .@'-]{0,63}$")
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024

_HASHER = PasswordHasher()


class AccountError(ValueError):
    """A user name, role or password that cannot be used as given."""


def check_user_name(name: object) -> str:
    """Return ``name`` stripped if it is a valid user name, else raise :class:`AccountError`.

    Examples
    --------
    >>> check_user_name(" a.rao@ncl ")
    'a.rao@ncl'
    >>> check_user_name("<script>")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    residua.geodata.accounts.AccountError: user name '<script>' is not allowed: use 1-64 letters, digits, spaces or ...
    """
    text = name.strip() if isinstance(name, str) else ""
    if not USER_NAME.fullmatch(text):
        raise AccountError(
            f"user name {name!r} is not allowed: use 1-64 letters, digits, spaces or . _ @ ' -, "
            "starting with a letter or digit (e.g. 'a.rao')"
        )
    return text


def check_role(role: object) -> str:
    """Return ``role`` in lower case if it is one of :data:`ROLES`, else raise :class:`AccountError`.

    Examples
    --------
    >>> check_role("Reviewer")
    'reviewer'
    """
    text = role.strip().lower() if isinstance(role, str) else ""
    if text not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return text


def may(role: str, needed: str) -> bool:
    """Whether ``role`` includes ``needed`` (admin includes reviewer includes viewer).

    Examples
    --------
    >>> may("admin", "reviewer"), may("viewer", "reviewer")
    (True, False)
    """
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (with its own random salt), after checking its length.

    Raises
    ------
    AccountError
        If the password is shorter than :data:`MIN_PASSWORD_CHARS` or longer than :data:`MAX_PASSWORD_CHARS`.

    Examples
    --------
    >>> hash_password("correct horse battery").startswith("$argon2id$")
    True
    """
    if not isinstance(password, str) or not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise AccountError(
            f"a password needs {MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters "
            f"(got {len(password) if isinstance(password, str) else 0}); a passphrase of a few words is fine"
        )
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches ``password_hash``; False otherwise, also for users without a password.

    Examples
    --------
    >>> verify_password(hash_password("correct horse battery"), "correct horse battery")
    True
    >>> verify_password(None, "anything at all")
    False
    """
    try:
        _HASHER.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


@cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so a wrong name costs as long as a wrong password."""
    return _HASHER.hash("residua-no-such-user")


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's, so it should be replaced at login."""
    return _HASHER.check_needs_rehash(password_hash)
