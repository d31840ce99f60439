"""Sessions, CSRF and the console's secret.

The session is Starlette's signed cookie (HttpOnly, SameSite=Lax, Secure when
the public address is https, scoped to /kelola). It holds the account id, a
CSRF token and when it was last used: a session idle for `IDLE_LIMIT` or older
than `SESSION_LIMIT` is over, measured with the bot's clock (so tests can move
time). The account is re-read on every request, so disabling it ends its
sessions at once.
"""

from __future__ import annotations

import hmac
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Optional

from bot.config import PROJECT_ROOT, Settings

IDLE_LIMIT = timedelta(minutes=60)
SESSION_LIMIT = timedelta(hours=12)
SECRET_FILE = PROJECT_ROOT / "var" / "kelola_secret"


class NoSecret(RuntimeError):
    """The console refuses to start without a secret on a production database."""


def console_secret(settings: Settings, secret_file: Path = SECRET_FILE) -> str:
    """DESMIGRAS_WEB_SECRET; on the embedded default (SQLite) a random one is
    generated once and kept in var/ (readable by the owner only)."""
    configured = os.environ.get("DESMIGRAS_WEB_SECRET", "").strip()
    if configured:
        if len(configured) < 32:
            raise NoSecret("DESMIGRAS_WEB_SECRET terlalu pendek: minimal 32 karakter acak.")
        return configured
    if not settings.database_url.startswith("sqlite"):
        raise NoSecret(
            "Konsol web butuh DESMIGRAS_WEB_SECRET (minimal 32 karakter acak, misalnya dari"
            " `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)."
        )
    if secret_file.exists():
        return secret_file.read_text(encoding="utf-8").strip()
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    descriptor = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret)
    return secret


def csrf_token(session: dict[str, Any]) -> str:
    """The session's CSRF token, made on first use (also before signing in)."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


def csrf_ok(session: dict[str, Any], sent: Optional[str]) -> bool:
    expected = session.get("csrf")
    return bool(expected) and bool(sent) and hmac.compare_digest(str(expected), str(sent))


def start_session(session: dict[str, Any], user_id: int, now: datetime) -> None:
    """A fresh session for a sign-in (a new CSRF token: nothing from before carries over)."""
    session.clear()
    session.update(uid=user_id, started=now.isoformat(), seen=now.isoformat(), csrf=secrets.token_urlsafe(32))


def signed_in_user(session: dict[str, Any], now: datetime) -> Optional[int]:
    """The account id of a live session (and marks it used), else None."""
    uid = session.get("uid")
    if not isinstance(uid, int):
        return None
    try:
        started = datetime.fromisoformat(session["started"])
        seen = datetime.fromisoformat(session["seen"])
    except (KeyError, TypeError, ValueError):
        session.clear()
        return None
    if now - seen > IDLE_LIMIT or now - started > SESSION_LIMIT:
        session.clear()
        return None
    session["seen"] = now.isoformat()
    return uid
