"""Passwords, signed session cookies, CSRF tokens and sign-in throttling for the web app.

Passwords are hashed with Argon2id by :mod:`engine.services` (what ``quytrinh
user add --password`` stores too); legacy PBKDF2-SHA256 hashes are accepted and
upgraded to Argon2id the first time the user signs in.

The session is a cookie signed with itsdangerous (HttpOnly, SameSite=Lax); it
holds the user's id, a random session id, the time the user signed in (the
session ends 12 hours after it, however often the cookie is re-signed), and the
user's *credential mark*: an HMAC, under the secret key, of the user's id,
stored password hash and credential epoch (:meth:`SessionCodec.credential_mark`).
API bearer tokens carry the same mark. Every request compares it with the mark
of the user's current row, so changing a password (which stores a new hash,
with a new salt) ends every session and token issued before; a user made
inactive or removed is refused too, and since deactivating an account raises
its epoch, enabling it again does not revive them. The CSRF
token is an HMAC of the session id under the secret key: a synchronizer token
bound to the session, never stored elsewhere, which a page from another site
can neither read nor forge.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from engine import services as _services
from engine.store import username_key

SECRET_ENV = "QUYTRINH_SECRET_KEY"
SECRET_FILE = Path("var") / "secret.key"
SESSION_COOKIE = "quytrinh_session"
#: Sessions expire after this many seconds without a new sign-in (12 hours: one working day).
SESSION_MAX_AGE = 12 * 3600



# --------------------------------------------------------------------------- secret


def load_secret(path: Path | None = None) -> str:
    """The signing secret: ``$QUYTRINH_SECRET_KEY``, else the content of ``var/secret.key``.

    The file is created (mode 0600) with a random key when missing, so sessions
    survive a restart. Processes that start together on a fresh folder
    (``quytrinh serve --workers N`` the first time) all end with the key that
    reached the disk first: each writes its candidate to a temporary file and
    links it to ``path`` only if ``path`` does not exist yet (atomic), then
    reads ``path`` back. A file that stays empty (emptied by hand) gets a new key.
    """
    env = os.environ.get(SECRET_ENV)
    if env:
        return env
    path = path or SECRET_FILE
    for attempt in range(100):
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            text = None
        if text:
            return text
        if text is None or attempt >= 10:  # missing, or empty for 0.2 s: not another process's write under way
            _publish_key(path, replace=text is not None)
        else:
            time.sleep(0.02)
    raise RuntimeError(f"cannot keep a signing key in {path}; set {SECRET_ENV}")


def _publish_key(path: Path, replace: bool) -> None:
    """Write a new random key to ``path``, whole or not at all: to a temporary file first, then linked to ``path``
    unless it exists already (another process was first; ``replace``: put over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process's key is there: it is the one every process uses
    finally:
        if tmp.exists():
            tmp.unlink()


# --------------------------------------------------------------------------- passwords


# One hashing scheme for the whole product: engine.services (Argon2id, legacy PBKDF2 accepted).
hash_password = _services.hash_password
verify_password = _services.check_password
needs_upgrade = _services.password_needs_upgrade


def set_password(db: Any, username: str, password: str) -> str:
    """Store an Argon2id hash of ``password`` for an existing user; returns the hash stored.

    The user's web sessions and API tokens issued before end (their credential
    mark no longer matches the stored hash).

    Raises
    ------
    engine.errors.NotFound
        When the user does not exist.
    """
    from engine.errors import NotFound
    from engine.store import as_store

    with as_store(db).write() as s:
        user = _services.find_user(s, username)  # whatever its case
        if user is None:
            raise NotFound(f"user '{username}' does not exist")
        digest = hash_password(password)
        user.password_hash = digest
        s.add(user)
    return digest


def password_stamp(password_hash: str | None) -> str:
    """A digest of a stored password hash, kept with the signed-in user instead of the hash itself."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()


def credential_stamp(password_hash: str | None, epoch: int | None = 0) -> str:
    """What a user's sessions and tokens are bound to: their stored password hash (:func:`password_stamp`)
    and their credential epoch, raised each time the account is deactivated (``engine.store.User``)."""
    stamp = password_stamp(password_hash)
    return f"{stamp}:{epoch}" if epoch else stamp


# --------------------------------------------------------------------------- sessions


@dataclass
class SessionData:
    """What the session cookie holds."""

    sid: str
    user_id: int | None = None
    flash: list[tuple[str, str]] = field(default_factory=list)  # (kind, message) shown once
    mark: str | None = None  # the user's credential mark when signed in (SessionCodec.credential_mark)
    signed_in_at: int | None = None  # when the user signed in (Unix seconds): the session ends max_age after

    def as_dict(self) -> dict[str, Any]:
        return {"sid": self.sid, "uid": self.user_id, "flash": self.flash, "cm": self.mark, "iat": self.signed_in_at}

    @classmethod
    def new(cls, user_id: int | None = None, mark: str | None = None) -> "SessionData":
        return cls(sid=secrets.token_urlsafe(18), user_id=user_id, mark=mark,
                   signed_in_at=int(time.time()) if user_id is not None else None)


class SessionCodec:
    """Signs and reads the session cookie; derives the session's CSRF token."""

    def __init__(self, secret: str, max_age: int = SESSION_MAX_AGE):
        self.secret = secret
        self.max_age = max_age
        self._serializer = URLSafeTimedSerializer(secret, salt="quytrinh-session")

    def dumps(self, data: SessionData) -> str:
        return self._serializer.dumps(data.as_dict())

    def loads(self, cookie: str | None) -> SessionData | None:
        """The session of a cookie, or None when it is missing, forged or expired."""
        if not cookie:
            return None
        try:
            raw = self._serializer.loads(cookie, max_age=self.max_age)
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(raw, dict) or not isinstance(raw.get("sid"), str):
            return None
        uid = raw.get("uid")
        flash = [tuple(x) for x in raw.get("flash") or [] if isinstance(x, list) and len(x) == 2]
        mark = raw.get("cm")
        iat = raw.get("iat")
        if not isinstance(uid, int) or not isinstance(iat, int) or time.time() - iat > self.max_age:
            # Signed out; or signed in max_age ago: the cookie is re-signed whenever the session changes
            # (a message shown, say), so its own timestamp would let an active session last for ever.
            uid, mark, iat = None, None, None
        return SessionData(sid=raw["sid"], user_id=uid, flash=flash,  # type: ignore[arg-type]
                           mark=mark if isinstance(mark, str) else None, signed_in_at=iat)

    def csrf_token(self, sid: str) -> str:
        """The CSRF token of session ``sid``."""
        return hmac.new(self.secret.encode(), b"csrf:" + sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, sid: str, token: str | None) -> bool:
        """Whether ``token`` is the CSRF token of session ``sid`` (constant time)."""
        return bool(token) and hmac.compare_digest(self.csrf_token(sid), str(token))

    # Credential marks: a session or token is valid only while the user's stored password hash and credential
    # epoch are unchanged (a password change or a deactivation ends it).
    def credential_mark(self, user_id: int, stamp: str) -> str:
        """The mark of user ``user_id`` whose credentials have :func:`credential_stamp` ``stamp``."""
        msg = f"credential:{user_id}:{stamp}".encode()
        return hmac.new(self.secret.encode(), msg, hashlib.sha256).hexdigest()[:32]

    def credential_ok(self, user_id: int, stamp: str, mark: str | None) -> bool:
        """Whether ``mark`` (from a session or a token) is the user's current mark (constant time)."""
        return bool(mark) and hmac.compare_digest(self.credential_mark(user_id, stamp), str(mark))

    # API bearer tokens: the same signature, a different salt.
    def api_token(self, user_id: int, mark: str) -> str:
        """A bearer token for the REST API (valid :attr:`max_age` seconds, and while ``mark`` is the user's)."""
        return URLSafeTimedSerializer(self.secret, salt="quytrinh-api").dumps({"uid": user_id, "cm": mark})

    def api_user(self, token: str) -> tuple[int, str | None] | None:
        """(user id, credential mark) of a bearer token, or None when it is forged or expired."""
        try:
            raw = URLSafeTimedSerializer(self.secret, salt="quytrinh-api").loads(token, max_age=self.max_age)
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(raw, dict) or not isinstance(raw.get("uid"), int):
            return None
        mark = raw.get("cm")
        return raw["uid"], mark if isinstance(mark, str) else None


# --------------------------------------------------------------------------- throttling


class LoginThrottle:
    """Slows down repeated failed sign-ins per (username, client address).

    The first :attr:`free` failures cost nothing; after that each attempt must
    wait ``base * 2**(failures - free)`` seconds (capped at :attr:`cap`) after
    the last failure, else it is refused with HTTP 429 without checking the
    password. A success clears the count. The counts live in the database
    (table ``login_failures``), so every web process and a restart see them;
    a count whose last failure is older than :attr:`forget_after` is forgotten.
    """

    def __init__(self, store: Any, free: int = 3, base: float = 2.0, cap: float = 900.0,
                 forget_after: dt.timedelta = dt.timedelta(days=1)):
        self.store = store
        self.free, self.base, self.cap, self.forget_after = free, base, cap, forget_after

    @staticmethod
    def _key(username: str, client: str) -> str:
        # usernames are case-insensitive: failures as ``An`` and as ``an`` count together
        return f"{username_key(username)}\n{client}"[:400]

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures."""
        if failures < self.free:
            return 0.0
        return min(self.cap, self.base * 2 ** (failures - self.free))

    def retry_after(self, username: str, client: str, now: dt.datetime) -> float:
        """Seconds before this username may try again from this address (0: now)."""
        from engine.store import LoginFailure

        with self.store.session() as s:
            f = s.get(LoginFailure, self._key(username, client))
            if f is None:
                return 0.0
            return max(0.0, self.delay(f.count) - (now - f.last_at).total_seconds())

    def failed(self, username: str, client: str, now: dt.datetime) -> float:
        """Record a failure (one statement: concurrent failures all count); returns the delay now imposed (seconds)."""
        import sqlalchemy as sa

        from engine.store import LoginFailure

        table = LoginFailure.__table__  # type: ignore[attr-defined]
        if self.store.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        key = self._key(username, client)
        stmt = insert(table).values(key=key, count=1, last_at=now)
        stmt = stmt.on_conflict_do_update(index_elements=[table.c.key],
                                          set_={"count": table.c.count + 1, "last_at": now})
        with self.store.engine.begin() as conn:
            conn.execute(stmt)
            count = conn.execute(sa.select(table.c.count).where(table.c.key == key)).scalar_one()
            conn.execute(table.delete().where(table.c.last_at < now - self.forget_after))
        return self.delay(count)

    def succeeded(self, username: str, client: str) -> None:
        from engine.store import LoginFailure

        key = self._key(username, client)
        with self.store.session() as s:  # a read first: most sign-ins follow no failure and write nothing
            if s.get(LoginFailure, key) is None:
                return
        table = LoginFailure.__table__  # type: ignore[attr-defined]
        with self.store.engine.begin() as conn:
            conn.execute(table.delete().where(table.c.key == key))
