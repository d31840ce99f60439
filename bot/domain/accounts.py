"""Web console accounts: creating them, checking passwords, throttling guesses,
and the one-time links a satgas gets in chat by typing *masuk*.

Passwords are hashed with argon2id (argon2-cffi); links are random tokens of
which only a SHA-256 is stored, valid 10 minutes and once. Guessing is slowed
per account *and address*: after `BACKOFF_AFTER` failures the next try from
that address for that name waits `BACKOFF_BASE`, doubling with every further
failure up to `BACKOFF_CAP`. Someone guessing from elsewhere therefore slows
only themselves, never the owner at their own address (a hard per-account
lock let any stranger lock the owner out). An address is also limited as a
whole (`MAX_FAILURES_PER_ADDRESS` per `THROTTLE_WINDOW`), whatever names it
tries. A name that does not exist costs the same argon2 verification as a
wrong password, so the answer's timing does not tell which names exist.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.domain import web_sessions
from bot.domain.villages import satgas_identity
from bot.messages import note_secret
from bot.storage.console_models import ROLES, LoginFailure, LoginLink, WebUser
from bot.storage.models import SatgasMember, Village
from bot.storage.training_models import Training

LINK_LIFETIME = timedelta(minutes=10)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ADDRESS = 20  # per THROTTLE_WINDOW, whatever the names
BACKOFF_AFTER = 5  # failures of one name from one address before it must wait
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
BACKOFF_MEMORY = timedelta(hours=24)  # failures older than this are forgotten
MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()


class AccountError(ValueError):
    """A request that cannot be done, with the reason in Indonesian."""


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the console, as the permission checks need it.

    `member` is the satgas member the account is linked to (same person as in
    chat); `villages` is the set of village codes in scope (None = all)."""

    user_id: int
    username: str
    role: str
    villages: Optional[frozenset[str]]
    member_id: Optional[int]
    organiser: Optional[tuple[str, str]]

    @property
    def actor(self) -> str:
        """How this person appears in case histories and the audit trail."""
        return f"satgas:{self.member_id}" if self.member_id is not None else f"web:{self.username}"

    def sees_village(self, village_code: Optional[str]) -> bool:
        return self.villages is None or (village_code is not None and village_code in self.villages)


# --- accounts -------------------------------------------------------------------------
def create_user(
    session: Session,
    username: str,
    role: str,
    now: datetime,
    *,
    password: Optional[str] = None,
    village: Optional[str] = None,
    district: Optional[str] = None,
    identity: Optional[str] = None,
) -> WebUser:
    """A new account. A satgas account needs the chat identity (channel:address)
    of a satgas member in content/villages.yml and takes that member's village;
    an organiser account needs the identity its trainings name."""
    username = username.strip().lower()
    if not username or len(username) > 60 or not all(ch.isalnum() or ch in "._-" for ch in username):
        raise AccountError("Nama pengguna hanya boleh huruf, angka, titik, garis bawah atau tanda hubung.")
    if role not in ROLES:
        raise AccountError(f"Peran tidak dikenal: {role}. Pilih salah satu: {', '.join(ROLES)}.")
    if session.execute(select(WebUser.id).where(WebUser.username == username)).first():
        raise AccountError(f"Nama pengguna '{username}' sudah dipakai.")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Kata sandi minimal {MIN_PASSWORD_LENGTH} karakter.")
    channel = address = None
    if identity:
        channel, _, address = identity.partition(":")
        if not channel or not address:
            raise AccountError("Identitas chat ditulis KANAL:ALAMAT, misalnya whatsapp:+6281234567890.")
    if role == "satgas":
        member = satgas_identity(session, channel or "", address or "")
        if member is None:
            raise AccountError("Akun satgas harus memakai identitas chat anggota satgas di content/villages.yml (--identity).")
        village = member.village_code
    if role == "penyelenggara" and not identity:
        raise AccountError("Akun penyelenggara memerlukan identitas chat yang tertulis di trainings.yml (--identity).")
    if village is not None and session.get(Village, village) is None:
        raise AccountError(f"Desa '{village}' tidak ada di content/villages.yml.")
    if district:
        # A district no village names would oversee nothing: every page empty (issue 26).
        if role != "koordinator":
            raise AccountError("--district hanya untuk akun koordinator.")
        known = sorted({name for name in session.execute(select(Village.district)).scalars() if name})
        if district not in known:
            raise AccountError(f"Kabupaten '{district}' tidak ada di content/villages.yml. Pilih salah satu: {', '.join(known)}.")
    user = WebUser(
        username=username,
        role=role,
        village_code=village,
        district=district if role == "koordinator" else None,
        identity_channel=channel,
        identity_address=address,
        password_hash=_hasher.hash(password) if password else None,
        active=True,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def disable_user(session: Session, username: str) -> None:
    """The account can no longer sign in, and its open sessions end now."""
    user = _user_named(session, username)
    user.active = False
    web_sessions.end_all(session, user.id)


def set_password(session: Session, username: str, password: str) -> None:
    """A new password; every session of the account ends (whoever had the old
    password, or a copy of a cookie, is out)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Kata sandi minimal {MIN_PASSWORD_LENGTH} karakter.")
    user = _user_named(session, username)
    user.password_hash = _hasher.hash(password)
    web_sessions.end_all(session, user.id)


def _user_named(session: Session, username: str) -> WebUser:
    user = session.execute(select(WebUser).where(WebUser.username == username.strip().lower())).scalar_one_or_none()
    if user is None:
        raise AccountError(f"Pengguna '{username}' tidak ditemukan.")
    return user


def all_users(session: Session) -> list[WebUser]:
    return list(session.execute(select(WebUser).order_by(WebUser.username)).scalars())


def viewer_of(session: Session, user_id: int) -> Optional[Viewer]:
    """The signed-in person, re-read on every request so that disabling an
    account (or removing a satgas from villages.yml) takes effect at once."""
    user = session.get(WebUser, user_id)
    if user is None or not user.active:
        return None
    member_id = None
    villages: Optional[frozenset[str]] = None
    if user.role == "satgas":
        member = satgas_identity(session, user.identity_channel or "", user.identity_address or "")
        if member is None:
            return None
        member_id, villages = member.id, frozenset({member.village_code})
    elif user.role == "koordinator" and user.district:
        villages = frozenset(
            session.execute(select(Village.code).where(Village.district == user.district)).scalars()
        )
    elif user.role == "penyelenggara":
        villages = frozenset()  # organisers see trainings, not cases
    organiser = (user.identity_channel, user.identity_address) if user.role == "penyelenggara" else None
    return Viewer(user.id, user.username, user.role, villages, member_id, organiser)  # type: ignore[arg-type]


def member_of(session: Session, viewer: Viewer) -> Optional[SatgasMember]:
    return session.get(SatgasMember, viewer.member_id) if viewer.member_id is not None else None


def organised_by(training: Training, viewer: Viewer) -> bool:
    return viewer.organiser is not None and (training.organiser_channel, training.organiser_address) == viewer.organiser


# --- signing in -------------------------------------------------------------------------
def retry_after(session: Session, username: str, address: str, now: datetime) -> Optional[timedelta]:
    """How long this name from this address must still wait before its next
    try (None: it may try now). The address as a whole waits out the window
    after `MAX_FAILURES_PER_ADDRESS` failures."""
    name, address = _clean_name(username), address[:64]
    per_address = session.execute(
        select(func.count(), func.min(LoginFailure.created_at)).where(
            LoginFailure.address == address, LoginFailure.created_at >= now - THROTTLE_WINDOW
        )
    ).one()
    if per_address[0] >= MAX_FAILURES_PER_ADDRESS:
        return per_address[1] + THROTTLE_WINDOW - now
    count, last = session.execute(
        select(func.count(), func.max(LoginFailure.created_at)).where(
            LoginFailure.username == name, LoginFailure.address == address, LoginFailure.created_at >= now - BACKOFF_MEMORY
        )
    ).one()
    if count < BACKOFF_AFTER:
        return None
    wait = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(count - BACKOFF_AFTER, 16))
    return wait - (now - last) if now - last < wait else None


def authenticate(session: Session, username: str, password: str, address: str, now: datetime) -> Optional[WebUser]:
    """The account if the password is right and this name from this address
    need not wait; every checked failure is counted (also for names that do not
    exist). A try that must still wait is refused without being checked or
    counted: it learns nothing and extends nothing."""
    name, address = _clean_name(username), address[:64]
    if retry_after(session, name, address, now) is not None:
        return None
    user = session.execute(select(WebUser).where(WebUser.username == name)).scalar_one_or_none()
    # Always one argon2 verification: against a dummy hash when there is no
    # password to check, so an unknown name answers as slowly as a wrong password.
    stored = user.password_hash if user is not None and user.password_hash else None
    matches = _password_matches(stored or _dummy_hash(), password)
    if user is not None and user.active and stored is not None and matches:
        user.last_login_at = now
        session.execute(
            delete(LoginFailure)
            .where(LoginFailure.username == name, LoginFailure.address == address)
            .execution_options(synchronize_session=False)
        )
        return user
    session.add(LoginFailure(username=name, address=address, created_at=now))
    return None


def _clean_name(username: str) -> str:
    """The name as stored: printable characters only (a NUL byte is refused by
    PostgreSQL), trimmed, lower case."""
    return "".join(ch for ch in username if ch.isprintable()).strip().lower()[:60]


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of a random password, made with the same parameters as real ones."""
    return _hasher.hash(secrets.token_urlsafe(24))


def _password_matches(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def account_for_chat(session: Session, channel: str, address: str) -> Optional[WebUser]:
    return session.execute(
        select(WebUser).where(
            WebUser.identity_channel == channel, WebUser.identity_address == address, WebUser.active.is_(True)
        )
    ).scalars().first()


def issue_link(session: Session, user: WebUser, now: datetime) -> str:
    """A fresh one-time token for `user` (the caller builds the URL)."""
    token = secrets.token_urlsafe(32)
    session.add(
        LoginLink(user_id=user.id, token_hash=_digest(token), created_at=now, expires_at=now + LINK_LIFETIME)
    )
    # The message that carries it is sent without a link preview and its text
    # is dropped once sent (bot.messages.note_secret, bot.outbox).
    note_secret(session.info, token)
    return token


def link_is_valid(session: Session, token: str, now: datetime) -> bool:
    """Whether a token could still be redeemed; spends nothing (the page a GET
    shows, which link previews fetch too)."""
    link = session.execute(select(LoginLink).where(LoginLink.token_hash == _digest(token))).scalar_one_or_none()
    return link is not None and link.used_at is None and link.expires_at >= now


def redeem_link(session: Session, token: str, now: datetime) -> Optional[WebUser]:
    """The account a valid, unused, unexpired token belongs to; the token is spent."""
    link = session.execute(
        select(LoginLink).where(LoginLink.token_hash == _digest(token)).with_for_update()
    ).scalar_one_or_none()
    if link is None or link.used_at is not None or link.expires_at < now:
        return None
    link.used_at = now
    user = session.get(WebUser, link.user_id)
    if user is None or not user.active:
        return None
    user.last_login_at = now
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
