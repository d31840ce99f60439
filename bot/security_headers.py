"""Security headers on every answer of the web app (issue 24).

The console's pages are server-rendered with one inline <style> block and
inline SVG charts (matplotlib writes style attributes), no images, no fonts,
forms that post to the console itself, and one script file of our own
(/kelola/konsol.js: the queue's unread counts without reloading, issue 26)
that reads a JSON address of the console. So the policy allows inline
styles, scripts and fetches from this origin only (never an inline script:
nothing injected into a page can run), and no page may be framed
(clickjacking a "Tutup kasus" button). `Referrer-Policy: no-referrer` keeps the one-time sign-in link
(`/kelola/tautan/...`) out of any Referer header, and `Cache-Control:
no-store` keeps pages with personal data out of browser and proxy caches
(a handler's own Cache-Control stays). HSTS is sent when the request came over
https (directly, or through a proxy in DESMIGRAS_TRUSTED_PROXIES) or the
public address is https.

A plain ASGI middleware, not Starlette's BaseHTTPMiddleware: it only adds
headers to the response start and leaves bodies and streaming alone.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, MutableMapping

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; script-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HSTS = "max-age=31536000"  # one year; not includeSubDomains: other hosts of the domain are not ours
CONSOLE_PREFIX = "/kelola"

ALWAYS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate it
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, https: bool = False) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _value in headers}
                extra = [(name, value) for name, value in ALWAYS if name not in present]
                if (self.https or scope.get("scheme") == "https") and b"strict-transport-security" not in present:
                    extra.append((b"strict-transport-security", HSTS.encode()))
                if str(scope.get("path", "")).startswith(CONSOLE_PREFIX) and b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = headers + extra
            await send(message)

        await self.app(scope, receive, with_headers)
