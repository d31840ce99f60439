"""Sessions, CSRF and the console's secret.

The session cookie is Starlette's signed cookie (HttpOnly, SameSite=Lax,
Secure when the public address is https, scoped to /kelola). It holds a
random session id, a CSRF token and a flash message; the session itself lives
on the server (`bot.domain.web_sessions`: idle and age limits, and "Keluar",
a password change or disabling the account end it for every copy of the
cookie). The account is re-read on every request.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Any, Optional

from bot.config import PROJECT_ROOT, Settings
from bot.domain.web_sessions import SESSION_LIMIT  # the cookie lives as long as a session may

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


def start_session(session: dict[str, Any], token: str) -> None:
    """A fresh cookie for a sign-in: the server-side session's id and a new
    CSRF token (nothing from before carries over)."""
    session.clear()
    session.update(sid=token, csrf=secrets.token_urlsafe(32))


def session_token(session: dict[str, Any]) -> Optional[str]:
    """The server-side session id the cookie carries, if any."""
    token = session.get("sid")
    return token if isinstance(token, str) and 0 < len(token) <= 100 else None
