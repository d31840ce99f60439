"""WhatsApp through Twilio: signed webhooks in, REST API sends out.

Inbound, Twilio POSTs a form to /webhooks/whatsapp signed with the account's
auth token over the exact public URL it called (`X-Twilio-Signature`). Forged
or unsigned requests are refused before anything is parsed into a message. The
webhook answers with empty TwiML as soon as the turn is committed; replies are
sent by the delivery worker through the REST API (`Client.messages.create`),
which is what makes retries, ordering and proactive messages possible.

Addresses are stored as "+62..." (as satgas are written in villages.yml);
Twilio's "whatsapp:" prefix is added and removed only here.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import parse_qsl, urlsplit

import requests
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MultiDict
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from bot.app import Bot
from bot.channels import WHATSAPP, clip
from bot.channels.intake import TurnGate, take
from bot.channels.parts import PartJournal, send_in_parts
from bot.channels.split import WHATSAPP_LIMIT, split_text
from bot.channels.whatsapp_window import HOLD_MARK, Decision, Verdict, Window
from bot.message_templates import Template, templates_for
from bot.messages import Attachment, Inbound, Outbound, options_from_rows
from bot.outbox import PermanentDeliveryError, PostponeDelivery, TemporaryDeliveryError, lease_expired_since, provider_ids
from bot.privacy import mask, mask_digits
from bot.storage.models import OutboundMessage, OutboundProviderId

if TYPE_CHECKING:  # SQLAlchemy 2.0's name; only for the annotation
    from sqlalchemy import Select

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/whatsapp"
SIGNATURE_HEADER = "X-Twilio-Signature"
PREFIX = "whatsapp:"
EMPTY_TWIML = str(MessagingResponse())
MAX_MEDIA = 10  # Twilio sends at most 10 media items per message
_PHONE = re.compile(r"^\+?\d{6,15}$")
_SID = re.compile(r"^[A-Za-z]{2}[0-9A-Za-z]{8,62}$")
NAME_LIMIT = 120  # Contact.display_name
PAYLOAD_LIMIT = 200  # InboundMessage.payload
_COORDINATE = re.compile(r"^-?\d{1,3}(\.\d+)?$")


# --- the Twilio REST client, pointed where the settings say ----------------------------
class TwilioHttp(TwilioHttpClient):
    """Twilio's own requests-based HTTP client with two additions, kept in this
    one place: another API base URL (the fake Twilio in tests; empty means the
    real https://api.twilio.com), and the headers of the last response in this
    thread, because TwilioRestException does not carry Retry-After."""

    def __init__(self, base_url: str = "", timeout: float = 10.0) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self._last = threading.local()

    def request(
        self,
        method: str,
        url: str,
        params: Optional[dict[str, object]] = None,
        data: Optional[dict[str, object]] = None,
        headers: Optional[dict[str, str]] = None,
        auth: Optional[tuple[str, str]] = None,
        timeout: Optional[float] = None,
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        if self.base_url:
            parts = urlsplit(url)
            url = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        self._last.headers = {}
        response = super().request(
            method, url, params=params, data=data, headers=headers, auth=auth,
            timeout=timeout, allow_redirects=allow_redirects,
        )
        self._last.headers = response.headers or {}
        return response

    def retry_after(self) -> Optional[float]:
        headers: Any = getattr(self._last, "headers", {}) or {}
        value = headers.get("Retry-After") if hasattr(headers, "get") else None
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None  # an HTTP date instead of seconds: use the normal backoff


def make_client(bot: Bot) -> tuple[Client, TwilioHttp]:
    settings = bot.settings
    http = TwilioHttp(settings.twilio_api_url, timeout=settings.provider_timeout)
    return Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http), http


def whatsapp_address(value: str) -> str:
    return value if value.startswith(PREFIX) else PREFIX + value


# --- inbound: signed form -> Inbound ------------------------------------------------------
@dataclass(frozen=True)
class Parsed:
    inbound: Optional[Inbound] = None
    ignored: str = ""  # a valid request that carries no message (status callback)
    invalid: str = ""  # a request we cannot make sense of (400)


def parse_form(body: bytes) -> Optional[MultiDict]:
    """The urlencoded form, or None when it is not one (bad encoding, junk)."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=bool(text), errors="strict", max_num_fields=300
        )
    except (UnicodeDecodeError, ValueError):
        return None
    return MultiDict(pairs)


def parse_message(form: MultiDict) -> Parsed:
    """Translate Twilio's inbound message fields into an Inbound."""
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or ""
    sender = form.get("From", "")
    if not sid or not sender:
        return Parsed(invalid="MessageSid and From are required")
    if not _SID.match(sid):
        return Parsed(invalid="MessageSid is malformed")
    if "MessageStatus" in form and not form.get("Body") and not form.get("NumMedia"):
        return Parsed(ignored="status callback")
    if not sender.startswith(PREFIX) or not _PHONE.match(sender[len(PREFIX):]):
        return Parsed(invalid="From is not a WhatsApp number")
    try:
        media_count = int(form.get("NumMedia") or 0)
    except ValueError:
        return Parsed(invalid="NumMedia is not a number")
    attachments = tuple(
        _attachment(form.get(f"MediaUrl{i}", ""), form.get(f"MediaContentType{i}", ""))
        for i in range(min(max(media_count, 0), MAX_MEDIA))
        if form.get(f"MediaUrl{i}")
    )
    text = form.get("Body", "") or form.get("ButtonText", "")
    latitude, longitude = form.get("Latitude", ""), form.get("Longitude", "")
    if latitude and longitude:
        if not (_COORDINATE.match(latitude) and _COORDINATE.match(longitude)):
            return Parsed(invalid="Latitude/Longitude are not numbers")
        text = f"lokasi: {float(latitude):.6f},{float(longitude):.6f}"
    payload = clip(form.get("ButtonPayload") or form.get("ListId") or "", PAYLOAD_LIMIT) or None
    return Parsed(
        inbound=Inbound(
            channel=WHATSAPP,
            sender=sender[len(PREFIX):],
            text=text,
            message_id=sid,
            payload=payload,
            attachments=attachments,
            sender_name=clip(form.get("ProfileName", ""), NAME_LIMIT),
        )
    )


def _attachment(url: str, mime_type: str) -> Attachment:
    mime_type = mime_type.lower()
    if mime_type == "image/webp":
        kind = "sticker"
    elif mime_type.startswith("image/"):
        kind = "photo"
    elif mime_type.startswith("audio/"):
        kind = "voice"
    elif mime_type.startswith("video/"):
        kind = "video"
    elif mime_type in ("text/vcard", "text/x-vcard"):
        return Attachment("contact", "", mime_type)  # a third person's number is not ours to keep
    else:
        kind = "document"
    return Attachment(kind, url, mime_type)


class WhatsAppWebhook:
    """POST /webhooks/whatsapp: Twilio's signature, then the message."""

    def __init__(self, bot: Bot, gate: Optional[TurnGate] = None) -> None:
        self.bot = bot
        self.gate = gate or TurnGate.for_settings(bot.settings)
        self.public_url = bot.settings.public_url
        self.validator = RequestValidator(bot.settings.twilio_auth_token)

    async def signed_form(self, request: Request) -> tuple[Optional[MultiDict], Optional[Response]]:
        """The form Twilio sent, or the 4xx answer for anything else."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return None, PlainTextResponse("expected a urlencoded form", status_code=415)
        body = await request.body()  # the app refuses bodies over its limit with 413
        form = parse_form(body)
        if form is None:
            return None, PlainTextResponse("malformed form", status_code=400)
        # Twilio signed the URL it called: ours as the public sees it, not as
        # the reverse proxy forwarded it.
        url = self.public_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature or not self.validator.validate(url, form, signature):
            logger.warning("whatsapp webhook with a missing or wrong signature refused")
            return None, PlainTextResponse("forbidden", status_code=403)
        return form, None

    async def endpoint(self, request: Request) -> Response:
        form, refusal = await self.signed_form(request)
        if form is None:
            return refusal  # type: ignore[return-value]
        parsed = parse_message(form)
        if parsed.invalid:
            return PlainTextResponse(parsed.invalid, status_code=400)
        if parsed.inbound is not None and not await take(self.bot, parsed.inbound, self.gate):
            return PlainTextResponse("not stored, retry", status_code=503)
        if parsed.ignored:
            logger.info("whatsapp webhook ignored: %s", parsed.ignored)
        return Response(EMPTY_TWIML, media_type="application/xml")


# Twilio's message statuses in the order they happen; failed/undelivered end it.
STATUS_ORDER = {"accepted": 0, "queued": 1, "sending": 2, "sent": 3, "delivered": 4, "read": 5}
FINAL_FAILURES = ("failed", "undelivered")


def status_row(sid: str) -> Select[tuple[OutboundMessage]]:
    """The outbox row a status callback is about, locked: found by its key in
    outbound_provider_ids (every part of a split message has its row there),
    so a callback never scans the outbox, which holds millions of rows after
    a year and gets about three callbacks per message."""
    return (
        select(OutboundMessage)
        .join(OutboundProviderId, OutboundProviderId.outbound_id == OutboundMessage.id)
        .where(OutboundProviderId.provider_id == sid, OutboundMessage.channel == WHATSAPP)
        .limit(1)
        .with_for_update(of=OutboundMessage)
    )


class WhatsAppStatus(WhatsAppWebhook):
    """POST /webhooks/whatsapp/status: Twilio's status callbacks (signed like
    the webhook) written into the outbox row, so staff see what reached people.
    A message WhatsApp refused as outside the window (63016) is sent again as
    its template."""

    async def endpoint(self, request: Request) -> Response:
        form, refusal = await self.signed_form(request)
        if form is None:
            return refusal  # type: ignore[return-value]
        sid, status = form.get("MessageSid", ""), (form.get("MessageStatus") or "").lower()
        if not _SID.match(sid) or not (status in STATUS_ORDER or status in FINAL_FAILURES):
            return PlainTextResponse("MessageSid and MessageStatus required", status_code=400)
        code = (form.get("ErrorCode") or "")[:20] or None
        await run_in_threadpool(self.record, sid, status, code)
        return Response(status_code=204)

    def record(self, sid: str, status: str, code: Optional[str]) -> None:
        with self.bot.sessions() as session, session.begin():
            row = session.execute(status_row(sid)).scalars().first()
            if row is None or sid not in provider_ids(row.provider_message_id):
                # A message of another system on the same account, or already
                # purged; or an earlier send of a row sent again since (63016
                # as its template): its id no longer speaks for the row.
                return
            current = row.provider_status or ""
            if current in FINAL_FAILURES:
                return
            if status in FINAL_FAILURES:
                row.provider_status, row.provider_error = status, code
                if code == str(OUTSIDE_WINDOW_CODE) and row.status == "sent":
                    row.status, row.last_error = "pending", f"{WINDOW_CLOSED} refused outside the window"
                    row.next_attempt_at, row.provider_status = self.bot.clock.now(), None
                return
            if STATUS_ORDER[status] > STATUS_ORDER.get(current, -1):
                row.provider_status = status


# --- outbound: outbox row -> Messages.create -----------------------------------------------
STATUS_PATH = "/webhooks/whatsapp/status"
OUTSIDE_WINDOW_CODE = 63016
# last_error of a message WhatsApp refused as outside the window (status callback 63016).
WINDOW_CLOSED = "[wa-63016]"


class OutsideWindow(Exception):
    """Twilio error 63016: free text outside WhatsApp's 24-hour window."""


NO_TEMPLATE = (
    "undeliverable: outside WhatsApp's 24-hour window and no template configured"
    " (WHATSAPP_TEMPLATE_SID or WHATSAPP_TEMPLATE_TEXT)"
)


class WhatsAppSender:
    """Sends outbox rows as WhatsApp messages through the Twilio REST API."""

    channel = WHATSAPP

    def __init__(self, bot: Bot) -> None:
        settings = bot.settings
        # Twilio answers a send in a few hundred milliseconds: several chats at
        # once (each chat in order). Twilio's client is made for threads (its
        # session's pool; TwilioHttp keeps the last headers per thread).
        self.parallel = settings.send_parallel
        self.client, self.http = make_client(bot)
        self.sender_fields: dict[str, str] = (
            {"from_": whatsapp_address(settings.twilio_whatsapp_from)}
            if settings.twilio_whatsapp_from
            else {"messaging_service_sid": settings.twilio_messaging_service_sid}
        )
        if settings.whatsapp_template_sid:
            self.template: Optional[dict[str, str]] = {"content_sid": settings.whatsapp_template_sid}
        elif settings.whatsapp_template_text:
            self.template = {"body": settings.whatsapp_template_text}
        else:
            self.template = None
        if settings.public_url:  # Twilio reports sent/delivered/read/failed here (signed like the webhook)
            self.sender_fields["status_callback"] = settings.public_url + STATUS_PATH
        self.templates = templates_for(bot.content.directory)
        self.window = Window(
            bot.sessions, bot.clock, timedelta(hours=settings.whatsapp_hold_hours), seen_at_claim=lambda: bot.outbox.last_seen
        )
        self.journal = PartJournal(bot.sessions, bot.clock)

    def prepare(self) -> None:
        self.window.new_pass()
        released = self.window.release_answered()
        if released:
            logger.info("whatsapp: %s held message(s) released after an answer", released)

    def send(self, row: OutboundMessage) -> str:
        given_up = self.window.given_up(row)
        if given_up is not None:  # failed by give_up() after this batch was claimed
            raise PermanentDeliveryError(given_up)
        already = self._sent_before_the_crash(row)
        if already:
            return already
        verdict = self.window.verdict(row)
        if verdict.decision is Decision.OPEN and not (row.last_error or "").startswith(WINDOW_CLOSED):
            options = options_from_rows(row.options)
            parts = split_text(Outbound(row.text, options).as_plain_text(), WHATSAPP_LIMIT)
            if not parts:
                raise PermanentDeliveryError("empty message")
            try:
                return send_in_parts(row, parts, lambda _i, part: self._create(row.address, body=part), self.journal)
            except OutsideWindow:
                # Our estimate said open, WhatsApp says closed (error 63016): the
                # same message goes as its template, or is held behind the general one.
                logger.info("whatsapp: window closed for %s (63016); using the template", mask(row.address))
                verdict = self.window.verdict_closed(row)
        template = self.templates.get(row.template or "")
        if template is not None and template.registered:
            return self._send_template(row, template, verdict)
        if self.template is None:
            raise PermanentDeliveryError(NO_TEMPLATE)
        if verdict.decision is Decision.EXPIRED:
            reason = "undeliverable: no answer to the WhatsApp template within the hold"
            others = self.window.give_up(row, reason)
            logger.info("whatsapp: gave up on %s message(s) to %s", others + 1, mask(row.address))
            raise PermanentDeliveryError(reason)
        if verdict.decision is Decision.JOIN:
            raise PostponeDelivery(f"{HOLD_MARK} held: waiting for an answer to the template", retry_after=verdict.wait)
        sid = self._create(row.address, **self.template)
        raise PostponeDelivery(f"{HOLD_MARK} held: template {sid} sent, waiting for an answer", retry_after=verdict.wait)

    def _send_template(self, row: OutboundMessage, template: Template, verdict: Verdict) -> str:
        """Outside the window: this kind's approved template with its variables.
        A 'done' template says it all and settles the message; a 'hold' one
        only says there is a message, which waits for the answer."""
        fields = {"content_sid": template.twilio_content_sid, "content_variables": template.twilio_variables(row.variables or {})}
        if template.then == "done":
            return self._create(row.address, **fields)
        if verdict.decision is Decision.EXPIRED:
            reason = "undeliverable: no answer to the WhatsApp template within the hold"
            self.window.give_up(row, reason)
            raise PermanentDeliveryError(reason)
        if verdict.decision is Decision.JOIN:
            raise PostponeDelivery(f"{HOLD_MARK} held: waiting for an answer to the template", retry_after=verdict.wait)
        sid = self._create(row.address, **fields)
        raise PostponeDelivery(f"{HOLD_MARK} held: template {template.name} {sid} sent, waiting for an answer", retry_after=verdict.wait)

    def _sent_before_the_crash(self, row: OutboundMessage) -> str:
        """A message whose worker died mid-send may already be with Twilio: ask
        Twilio what went to this number since that worker claimed it. Only one
        message per chat is ever in flight (bot.delivery.InOrder), so anything
        newer than the claim that the part journal does not account for is
        this message's next part. Returns its id when the whole message went."""
        since = lease_expired_since(row)
        if since is None:
            return ""
        try:
            found = list(
                self.client.messages.list(to=whatsapp_address(row.address), date_sent_after=since.replace(tzinfo=timezone.utc), limit=50)
            )
        except (TwilioException, requests.exceptions.RequestException) as error:
            raise TemporaryDeliveryError(f"twilio unreachable while checking a resend: {type(error).__name__}") from error
        known = self._recorded_ids(row)
        newer = [
            m for m in found
            if str(m.sid) not in known and (m.date_created is None or m.date_created >= since.replace(tzinfo=timezone.utc, microsecond=0))
        ]
        if not newer:
            return ""
        verdict = self.window.verdict(row)
        if verdict.decision is not Decision.OPEN:  # what went was a template
            template = self.templates.get(row.template or "")
            if template is None or not template.registered or template.then == "hold":
                # It said "there is a message": the message itself waits for the answer.
                raise PostponeDelivery(f"{HOLD_MARK} held: template sent before a restart, waiting for an answer", retry_after=verdict.wait or 60)
            logger.info("whatsapp: message %s was sent before its worker died; not sent again", row.id)
            return str(newer[0].sid)
        parts = split_text(Outbound(row.text, options_from_rows(row.options)).as_plain_text(), WHATSAPP_LIMIT)
        if len(parts) <= 1:
            logger.info("whatsapp: message %s was sent before its worker died; not sent again", row.id)
            return str(newer[0].sid)
        recorded = self.journal.sent(row)
        if len(newer) > len(recorded) and len(recorded) < len(parts):
            self.journal.record(row, len(recorded), len(parts), str(newer[0].sid))
        return ""

    def _recorded_ids(self, row: OutboundMessage) -> set[str]:
        """Provider ids already recorded for other messages to this number (a
        batch claims several at once, so their sends are newer than this claim too)."""
        with self.window.sessions() as session:
            stored = list(
                session.execute(
                    select(OutboundMessage.provider_message_id).where(
                        OutboundMessage.channel == WHATSAPP,
                        OutboundMessage.address == row.address,
                        OutboundMessage.id != row.id,
                        OutboundMessage.provider_message_id.is_not(None),
                        OutboundMessage.created_at >= row.created_at - timedelta(days=2),
                    )
                ).scalars()
            )
        return {part for value in stored for part in str(value).split(",")} | set(self.journal.sent(row).values())

    def _create(self, address: str, **fields: str) -> str:
        try:
            message = self.client.messages.create(to=whatsapp_address(address), **self.sender_fields, **fields)
        except TwilioRestException as error:
            detail = f"twilio {error.status} code {error.code}: {mask_digits(str(error.msg))[:200]}"
            if error.code == OUTSIDE_WINDOW_CODE:
                raise OutsideWindow(detail) from error
            if error.status == 429:
                raise TemporaryDeliveryError(detail, retry_after=self.http.retry_after()) from error
            if error.status >= 500:
                raise TemporaryDeliveryError(detail) from error
            if error.status == 401:
                # A configuration mistake, not the message's fault: keep retrying.
                raise TemporaryDeliveryError(detail, retry_after=60) from error
            raise PermanentDeliveryError(detail) from error
        except requests.exceptions.Timeout as error:
            raise TemporaryDeliveryError("twilio timed out") from error
        except (requests.exceptions.RequestException, TwilioException) as error:
            raise TemporaryDeliveryError(f"twilio unreachable: {type(error).__name__}") from error
        return str(message.sid)

    def close(self) -> None:
        session = getattr(self.http, "session", None)
        if session is not None:
            session.close()
