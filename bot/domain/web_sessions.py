"""Console sessions kept on the server (issue 24).

A signed cookie alone cannot be taken back: "Keluar" cleared the browser's
copy, but a copied cookie kept working for up to 12 hours. Now the cookie
carries a random session id and the server keeps its SHA-256 with the times:
signing out deletes the row, and so do a password change and disabling the
account (`end_all`). Idle and age limits are measured here, with the caller's
clock, so tests can move time.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from bot.storage.console_models import WebSession

IDLE_LIMIT = timedelta(minutes=60)
SESSION_LIMIT = timedelta(hours=12)
# last_seen_at is written at most this often: a page view is not a write each time.
TOUCH_EVERY = timedelta(minutes=1)


def start(session: Session, user_id: int, now: datetime) -> str:
    """A new session for `user_id`; returns the id for the cookie (only its
    hash is stored). Sessions past their limits are cleared out on the way."""
    session.execute(
        delete(WebSession)
        .where(or_(WebSession.last_seen_at < now - IDLE_LIMIT, WebSession.created_at < now - SESSION_LIMIT))
        .execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(32)
    session.add(WebSession(user_id=user_id, token_hash=_digest(token), created_at=now, last_seen_at=now))
    return token


def user_of(session: Session, token: str, now: datetime, touch: bool = True) -> Optional[int]:
    """The account of a live session (and marks it used), else None; an
    expired session is deleted. `touch=False`: a page's background poll
    (bot.kelola's konsol.js) reads the session without keeping it alive, so
    a queue left open on an unattended computer still ends after the idle limit."""
    row = session.execute(select(WebSession).where(WebSession.token_hash == _digest(token))).scalar_one_or_none()
    if row is None:
        return None
    if now - row.last_seen_at > IDLE_LIMIT or now - row.created_at > SESSION_LIMIT:
        session.delete(row)
        return None
    if touch and now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return row.user_id


def end(session: Session, token: str) -> None:
    """Sign out: this session's row is gone, so every copy of its cookie is dead."""
    session.execute(
        delete(WebSession).where(WebSession.token_hash == _digest(token)).execution_options(synchronize_session=False)
    )


def end_all(session: Session, user_id: int) -> int:
    """Every session of one account (password changed, account disabled)."""
    result = session.execute(
        delete(WebSession).where(WebSession.user_id == user_id).execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
