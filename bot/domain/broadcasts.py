"""Broadcasts: one message to a segment of contacts, through the outbox, each
recipient exactly once (issue 12).

When a broadcast falls due, the first timer pass writes its recipients (one
row per contact, unique), so the list is fixed from then on (a scheduled one,
such as a reminder three days before a training, reaches whoever is in the
segment at that moment). The timers then move recipients in batches: each is checked against consent at that moment and either queued
(its outbox row, which carries the broadcast id, is written in the same
transaction) or skipped with the reason. A crash loses nothing and repeats
nothing: a recipient is pending or decided, and decided is committed together
with its outbox row. The rate limit is the outbox row's due time, spaced per
channel; the delivery worker backs off on 429 and checks consent once more
right before sending (bot.delivery).

Segments: `desa:<kode>` (contacts of a village), `pelatihan:<id>` (its
registrants), `topik:<topik>` (contacts opted in to a topic), `negara:<kode>:<hari>`
(people who asked about a country in the last N days), `semua`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Collection, Optional

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.domain import subscriptions
from bot.message_templates import Template
from bot.messages import Notification, Outbound, Proactive
from bot.storage.broadcast_models import TOPICS, Broadcast, BroadcastRecipient  # BroadcastRecipient: for the CLI
from bot.storage.models import Contact, Conversation, OutboundMessage, Village
from bot.storage.training_models import ACTIVE_STATUSES, Training, TrainingRegistration

SCHEDULED, SENDING, DONE, CANCELLED = "terjadwal", "mengirim", "selesai", "dibatalkan"
OPTED_OUT = "dilewati: berhenti berlangganan"
BATCH = 200
# Bounds of what people type (CLI and console), checked before anything is stored:
# sending speed per channel (1000 a second is more than any provider takes; the
# crash test sends that fast), how far back `negara:KODE:HARI` looks, how early
# a training reminder goes.
PER_MINUTE_RANGE = (1, 60_000)
COUNTRY_DAYS_RANGE = (1, 365)
DEFAULT_COUNTRY_DAYS = 30
DAYS_BEFORE_RANGE = (1, 365)
LARGEST_ID = 2**31 - 1  # an INTEGER primary key on PostgreSQL
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}")  # village, training and country codes


class BroadcastError(ValueError):
    """A broadcast that cannot be made, with the reason in Indonesian."""


class UnknownSegment(BroadcastError):
    """A segment that is not written right or names nothing (a village or
    training that does not exist): a wrong argument, not a failed broadcast."""


def segment_syntax(segment: str) -> str:
    """The segment if it is written right (no database needed), else UnknownSegment."""
    kind, _, rest = segment.partition(":")
    if kind == "semua" and not rest:
        return segment
    if kind in ("desa", "pelatihan") and CODE.fullmatch(rest):
        return segment
    if kind == "topik" and rest in TOPICS:
        return segment
    if kind == "negara":
        country, _, days = rest.partition(":")
        low, high = COUNTRY_DAYS_RANGE
        if CODE.fullmatch(country) and (not days or (days.isdigit() and low <= int(days) <= high)):
            return segment
        if CODE.fullmatch(country):
            raise UnknownSegment(f"Jumlah hari di negara:KODE:HARI harus {low} sampai {high}, bukan {days!r}.")
    raise UnknownSegment(
        f"Segmen tidak dikenal: {segment[:80]!r}. Pakai desa:KODE, pelatihan:ID, topik:{'|'.join(TOPICS)}, negara:KODE:HARI atau semua."
    )


def check_segment(session: Session, segment: str, countries: Optional[Collection[str]] = None) -> None:
    """Refuse, before a broadcast is made or counted, a segment that is written
    wrong or names a village, training (or, given `countries`, a country) that
    does not exist: `desa:tidakada` would otherwise count 0 and send to nobody."""
    kind, _, rest = segment_syntax(segment).partition(":")
    if kind == "desa" and session.get(Village, rest) is None:
        raise UnknownSegment(f"Desa {rest!r} tidak ada. Kode desa ada di content/villages.yml (misalnya desa:jlamprang).")
    if kind == "pelatihan" and session.get(Training, rest) is None:
        raise UnknownSegment(f"Pelatihan {rest!r} tidak ada. Lihat kodenya dengan: trainings list.")
    country = rest.partition(":")[0]
    if kind == "negara" and countries is not None and country not in countries:
        raise UnknownSegment(f"Negara {country!r} tidak dikenal. Pakai kunci negara dari content/countries.yml (misalnya negara:malaysia:30).")


def segment_contacts(session: Session, segment: str, now: datetime) -> list[int]:
    """Contact ids of a segment (not yet filtered by consent), without erased contacts."""
    kind, _, rest = segment.partition(":")
    live = select(Contact.id).where(Contact.deleted_at.is_(None), Contact.channel != "console")
    if kind == "semua" and not rest:
        query = live
    elif kind == "desa" and rest:
        query = live.where(Contact.village_code == rest)
    elif kind == "pelatihan" and rest:
        query = live.where(
            Contact.id.in_(
                select(TrainingRegistration.contact_id).where(
                    TrainingRegistration.training_id == rest, TrainingRegistration.status.in_(ACTIVE_STATUSES)
                )
            )
        )
    elif kind == "topik" and rest in TOPICS:
        from bot.storage.broadcast_models import Subscription

        query = live.where(
            Contact.id.in_(select(Subscription.contact_id).where(Subscription.topic == rest, Subscription.subscribed.is_(True)))
        )
    elif kind == "negara" and rest:
        country, _, days = rest.partition(":")
        low, high = COUNTRY_DAYS_RANGE
        since = now - timedelta(days=int(days) if days.isdigit() and low <= int(days) <= high else DEFAULT_COUNTRY_DAYS)
        ids = [
            contact_id
            for contact_id, context in session.execute(
                select(Conversation.contact_id, Conversation.context).where(Conversation.updated_at >= since)
            ).all()
            if isinstance(context, dict) and context.get("negara") == country
        ]
        query = live.where(Contact.id.in_(ids))
    else:
        raise BroadcastError(
            f"Segmen tidak dikenal: {segment!r}. Pakai desa:KODE, pelatihan:ID, topik:{'|'.join(TOPICS)}, negara:KODE:HARI atau semua."
        )
    return list(session.execute(query.order_by(Contact.id)).scalars())


@dataclass
class Preview:
    recipients: int
    opted_out: int
    not_opted_in: int

    @property
    def would_send(self) -> int:
        return self.recipients - self.opted_out - self.not_opted_in


def preview(session: Session, segment: str, topic: str, template: Template, now: datetime) -> Preview:
    check_segment(session, segment)
    ids = segment_contacts(session, segment, now)
    opted_out = not_opted_in = 0
    for contact_id in ids:
        said = subscriptions.choice(session, contact_id, topic)
        if said is False:
            opted_out += 1
        elif said is None and template.category == "marketing":
            not_opted_in += 1
    return Preview(len(ids), opted_out, not_opted_in)


def create(
    session: Session,
    *,
    title: str,
    topic: str,
    template: Template,
    variables: dict[str, str],
    segment: str,
    created_by: str,
    now: datetime,
    send_at: Optional[datetime] = None,
    per_minute: int = 60,
) -> Broadcast:
    if topic not in TOPICS:
        raise BroadcastError(f"Topik tidak dikenal: {topic}. Pilih: {', '.join(TOPICS)}.")
    missing = [v.name for v in template.variables if not str(variables.get(v.name, "")).strip()]
    if missing:
        raise BroadcastError(f"Isian template {template.name} belum diisi: {', '.join(missing)}.")
    low, high = PER_MINUTE_RANGE
    if not low <= per_minute <= high:
        raise BroadcastError(f"Kecepatan kirim harus {low} sampai {high} pesan per menit.")
    check_segment(session, segment)  # a segment that cannot be read is refused now, not at send time
    broadcast = Broadcast(
        title=title[:160], topic=topic, template=template.name, variables=template.values(variables), segment=segment,
        per_minute=per_minute, status=SCHEDULED, created_by=created_by, created_at=now, send_at=send_at or now, slots={},
    )
    session.add(broadcast)
    session.flush()
    return broadcast


def _fix_recipients(session: Session, broadcast: Broadcast, now: datetime) -> None:
    """The segment as it is when the broadcast falls due, written once (the
    broadcast row is locked, and recipients are unique per broadcast)."""
    ids = segment_contacts(session, broadcast.segment, now)
    session.add_all(BroadcastRecipient(broadcast_id=broadcast.id, contact_id=cid, status="pending", updated_at=now) for cid in ids)
    broadcast.status = SENDING
    session.flush()


def dispatch(session: Session, templates: dict[str, Template], now: datetime, notify: Callable[[Notification], None], limit: int = BATCH) -> int:
    """Queue (or skip) up to `limit` pending recipients of due broadcasts; the caller commits."""
    due = session.execute(
        select(Broadcast)
        .where(Broadcast.status.in_((SCHEDULED, SENDING)), Broadcast.send_at <= now)
        .order_by(Broadcast.id)
        .with_for_update(skip_locked=True)
    ).scalars()
    moved = 0
    for broadcast in list(due):
        if broadcast.status == SCHEDULED:
            _fix_recipients(session, broadcast, now)
        template = templates.get(broadcast.template)
        pending = list(
            session.execute(
                select(BroadcastRecipient)
                .where(BroadcastRecipient.broadcast_id == broadcast.id, BroadcastRecipient.status == "pending")
                .order_by(BroadcastRecipient.id)
                .limit(limit - moved)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        slots = dict(broadcast.slots or {})
        spacing = timedelta(seconds=60 / broadcast.per_minute)
        for recipient in pending:
            recipient.updated_at = now
            contact = session.get(Contact, recipient.contact_id) if recipient.contact_id else None
            if contact is None or contact.deleted_at is not None:
                recipient.status, recipient.reason = "skipped", "data dihapus"
            elif template is None:
                recipient.status, recipient.reason = "skipped", "template tidak ada"
            elif not subscriptions.allows(
                said := subscriptions.choice(session, contact.id, broadcast.topic), needs_opt_in=template.category == "marketing"
            ):
                recipient.status, recipient.reason = "skipped", ("berhenti berlangganan" if said is False else "belum setuju")
            else:
                slot = max(now, _parse(slots.get(contact.channel)) or now)
                notify(
                    Notification(
                        contact.channel, contact.address, Outbound(template.render(broadcast.variables)), contact_id=contact.id,
                        proactive=Proactive(template.name, dict(broadcast.variables), topic=broadcast.topic),
                        broadcast_id=broadcast.id, due=slot,
                    )
                )
                slots[contact.channel] = (slot + spacing).isoformat()
                recipient.status, recipient.reason = "queued", None
            moved += 1
        broadcast.slots = slots
        left = session.execute(
            select(func.count()).select_from(BroadcastRecipient).where(
                BroadcastRecipient.broadcast_id == broadcast.id, BroadcastRecipient.status == "pending"
            )
        ).scalar_one()
        if left == 0:
            broadcast.status, broadcast.finished_at = DONE, now
        if moved >= limit:
            break
    return moved


def campaign(session: Session, training: Any, days_before: list[int], template: Template, when: str, now: datetime, created_by: str) -> list[Broadcast]:
    """Date-relative reminders for a training's registrants (e.g. 3 and 1 days
    before), as scheduled broadcasts; past dates are left out."""
    low, high = DAYS_BEFORE_RANGE
    if any(not low <= days <= high for days in days_before):
        raise BroadcastError(f"Pengingat dikirim {low} sampai {high} hari sebelum pelatihan mulai.")
    made = []
    for days in sorted(set(days_before), reverse=True):
        send_at = training.start_at - timedelta(days=days)
        if send_at <= now:
            continue
        made.append(
            create(
                session, title=f"Pengingat {days} hari sebelum: {training.title}", topic="info_pelatihan", template=template,
                variables={"pelatihan": training.title, "waktu": when, "tempat": training.location},
                segment=f"pelatihan:{training.id}", created_by=created_by, now=now, send_at=send_at,
            )
        )
    return made


def _parse(value: Optional[str]) -> Optional[datetime]:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def cancel(session: Session, broadcast_id: int, now: datetime) -> int:
    """Stop a broadcast: recipients not yet queued are skipped, queued messages not yet sent are cancelled."""
    broadcast = _find(session, broadcast_id, lock=True)
    broadcast.status, broadcast.finished_at = CANCELLED, now
    session.execute(
        update(BroadcastRecipient)
        .where(BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.status == "pending")
        .values(status="skipped", reason="siaran dibatalkan", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.broadcast_id == broadcast_id, OutboundMessage.status == "pending")
        .values(status="failed", last_error="dibatalkan: siaran dibatalkan")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


@dataclass
class Report:
    broadcast: Broadcast
    recipients: int = 0
    pending: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    queued: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    waiting: int = 0

    def lines(self) -> list[str]:
        b = self.broadcast
        skipped = ", ".join(f"{reason} {count}" for reason, count in sorted(self.skipped.items())) or "0"
        failed = ", ".join(f"{reason} {count}" for reason, count in sorted(self.failed.items())) or "0"
        return [
            f"Siaran {b.id}: {b.title} [{b.status}] topik {b.topic}, template {b.template}, segmen {b.segment}",
            f"penerima {self.recipients}: belum diproses {self.pending}, dilewati {sum(self.skipped.values())} ({skipped})",
            f"masuk antrean {self.queued}: terkirim {self.sent} (sampai {self.delivered}, dibaca {self.read}),"
            f" menunggu {self.waiting}, gagal {sum(self.failed.values())} ({failed})",
        ]


def _find(session: Session, broadcast_id: int, lock: bool = False) -> Broadcast:
    """The broadcast, or BroadcastError; an id no INTEGER column can hold is
    answered the same way instead of failing in the database driver."""
    broadcast = session.get(Broadcast, broadcast_id, with_for_update=lock) if 1 <= broadcast_id <= LARGEST_ID else None
    if broadcast is None:
        raise BroadcastError(f"Siaran {broadcast_id} tidak ada.")
    return broadcast


def report(session: Session, broadcast_id: int) -> Report:
    broadcast = _find(session, broadcast_id)
    result = Report(broadcast)
    for status, reason, count in session.execute(
        select(BroadcastRecipient.status, BroadcastRecipient.reason, func.count())
        .where(BroadcastRecipient.broadcast_id == broadcast_id)
        .group_by(BroadcastRecipient.status, BroadcastRecipient.reason)
    ).all():
        result.recipients += count
        if status == "pending":
            result.pending += count
        elif status == "skipped":
            result.skipped[reason or "-"] = result.skipped.get(reason or "-", 0) + count
        else:
            result.queued += count
    for status, provider_status, error, count in session.execute(
        select(OutboundMessage.status, OutboundMessage.provider_status, OutboundMessage.last_error, func.count())
        .where(OutboundMessage.broadcast_id == broadcast_id)
        .group_by(OutboundMessage.status, OutboundMessage.provider_status, OutboundMessage.last_error)
    ).all():
        if status == "sent":
            result.sent += count
            result.delivered += count if provider_status in ("delivered", "read") else 0
            result.read += count if provider_status == "read" else 0
        elif status == "failed":
            if error == OPTED_OUT or "24-hour window" in (error or ""):
                reason = "berhenti sebelum terkirim" if error == OPTED_OUT else "di luar 24 jam tanpa template"
                result.skipped[reason] = result.skipped.get(reason, 0) + count
                result.queued -= count
            else:
                key = _failure_reason(error or "")
                result.failed[key] = result.failed.get(key, 0) + count
        else:
            result.waiting += count
    return result


def _failure_reason(error: str) -> str:
    return error.split(":")[0][:40] or "gagal"


def all_broadcasts(session: Session) -> list[Broadcast]:
    return list(session.execute(select(Broadcast).order_by(Broadcast.id.desc())).scalars())


def parse_variables(pairs: list[str]) -> dict[str, Any]:
    """`nama=isi` pairs from the command line."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise BroadcastError(f"Isian ditulis NAMA=ISI, bukan {pair!r}.")
        values[name.strip()] = value
    return values
