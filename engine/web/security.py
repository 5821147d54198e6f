"""Access control of the web application: password hash, session cookie, CSRF, attempts.

- The access password is never stored: only its scrypt hash, written
  `scrypt$<n>$<r>$<p>$<salt, base64>$<hash, base64>` (`hash_password`; run
  `python -m engine.web.security` to make one). The server reads it from the environment
  variable `PARCOURS_PASSWORD_HASH` or from the file named by `PARCOURS_PASSWORD_FILE`.
- A session is a cookie signed with a key drawn at start-up (itsdangerous), HttpOnly and
  SameSite=Strict, valid 8 hours: restarting the server signs everyone out.
- Every POST carries a CSRF token: a random value kept in a signed cookie and repeated in
  the form (double submit, compared in constant time).
- Failed logins are counted per client address: after `MAX_ATTEMPTS` within
  `ATTEMPT_WINDOW` seconds, the login page refuses until the window has passed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

PASSWORD_ENV = "PARCOURS_PASSWORD_HASH"
PASSWORD_FILE_ENV = "PARCOURS_PASSWORD_FILE"
SESSION_COOKIE = "parcours_session"
CSRF_COOKIE = "parcours_csrf"
SESSION_AGE = 8 * 3600
MAX_ATTEMPTS = 5
ATTEMPT_WINDOW = 15 * 60
_SCRYPT = (2**14, 8, 1)


def hash_password(password: str, salt: bytes | None = None) -> str:
    """The scrypt hash of `password`, in the text form the server reads."""
    salt = salt or os.urandom(16)
    n, r, p = _SCRYPT
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    return "$".join(["scrypt", str(n), str(r), str(p), base64.b64encode(salt).decode(),
                     base64.b64encode(digest).decode()])


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches the stored hash (False for a malformed hash)."""
    try:
        scheme, n, r, p, salt, expected = stored.strip().split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r),
                                p=int(p), dklen=len(base64.b64decode(expected)), maxmem=2**26)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, base64.b64decode(expected))


def configured_hash(environ: Mapping[str, str] | None = None) -> str | None:
    """The access password's hash from the environment (or the file it names), if any."""
    environ = os.environ if environ is None else environ
    value = environ.get(PASSWORD_ENV, "").strip()
    if value:
        return value
    file = environ.get(PASSWORD_FILE_ENV, "").strip()
    if file:
        try:
            text = Path(file).read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return text or None
    return None


class Guard:
    """Signs and checks session and CSRF cookies; counts failed logins."""

    def __init__(self, password_hash: str | None = None, secret: bytes | None = None):
        self.password_hash = password_hash
        self._signer = URLSafeTimedSerializer(secret or secrets.token_bytes(32), salt="parcours")
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- session

    def session_value(self) -> str:
        """A new signed session cookie value."""
        return self._signer.dumps({"user": "agent", "nonce": secrets.token_hex(8)}, salt="session")

    def valid_session(self, value: str | None) -> bool:
        """Whether a session cookie value is ours and not expired."""
        if not value:
            return False
        try:
            self._signer.loads(value, salt="session", max_age=SESSION_AGE)
        except BadSignature:
            return False
        return True

    # ----------------------------------------------------------------- CSRF

    def new_csrf(self) -> tuple[str, str]:
        """A new token and the signed cookie value that carries it."""
        token = secrets.token_urlsafe(24)
        return token, self._signer.dumps(token, salt="csrf")

    def csrf_token(self, cookie: str | None) -> str | None:
        """The token held by a CSRF cookie (None when absent or forged)."""
        if not cookie:
            return None
        try:
            token = self._signer.loads(cookie, salt="csrf")
        except BadSignature:
            return None
        return token if isinstance(token, str) else None

    def csrf_ok(self, cookie: str | None, submitted: str | None) -> bool:
        """Whether the form's token matches the cookie's."""
        token = self.csrf_token(cookie)
        return bool(token and submitted) and hmac.compare_digest(str(token), str(submitted))

    # ----------------------------------------------------------------- attempts

    def blocked(self, client: str) -> bool:
        """Whether this client has failed too often lately."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < ATTEMPT_WINDOW]
            self._failures[client] = recent
            return len(recent) >= MAX_ATTEMPTS

    def failed(self, client: str) -> None:
        """Count a failed login."""
        with self._lock:
            self._failures.setdefault(client, []).append(time.monotonic())

    def check_password(self, password: str) -> bool:
        """Whether the password is the configured one."""
        return bool(self.password_hash) and verify_password(password, str(self.password_hash))


def main() -> None:  # pragma: no cover - interactive
    """Print the hash of a password typed twice (for PARCOURS_PASSWORD_HASH)."""
    import getpass

    first = getpass.getpass("Mot de passe d'accès : ")
    if first != getpass.getpass("Confirmer : ") or not first:
        raise SystemExit("Les deux saisies diffèrent (ou sont vides).")
    print(hash_password(first))


if __name__ == "__main__":  # pragma: no cover
    main()
