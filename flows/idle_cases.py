"""The timers' side of open cases nobody acts on (bot.domain.case_expiry).

A case idle for the retention period is announced where an unclaimed urgent
case is escalated: the district contact of its village (`escalation` in
content/villages.yml) and the village satgas. A case still idle after the
grace period is closed as expired and its reporter is told, politely, that
they can report again: a family should not find out from `status` alone.
"""

from __future__ import annotations

from bot.domain import case_expiry, cases
from bot.domain.villages import alert_recipients
from bot.messages import Outbound, Proactive
from bot.storage.complaint_models import Case
from bot.storage.models import Contact, Village
from bot.turn import TickContext


def fire(ctx: TickContext, settings: cases.ComplaintSettings) -> int:
    """Warn about newly idle cases, close those idle past the grace period;
    returns how many cases were acted on."""
    fired = 0
    for case in case_expiry.due_warnings(ctx.session, settings, ctx.now):
        _warn(ctx, settings, case)
        case_expiry.warned(ctx.session, case, ctx.now)
        fired += 1
    for case in case_expiry.due_expiries(ctx.session, settings, ctx.now):
        case_expiry.expire(ctx.session, case, ctx.now)
        _tell_reporter(ctx, case)
        fired += 1
    return fired


def _warn(ctx: TickContext, settings: cases.ComplaintSettings, case: Case) -> None:
    village = ctx.session.get(Village, case.village_code)
    text = ctx.content.text(
        "satgas_idle_case",
        code=case.code,
        village=village.name if village else case.village_code,
        category=settings.categories.get(case.category, case.category),
        days=settings.retention_days,
        deadline=cases.local_time(settings, case_expiry.deadline(settings, ctx.now)),
    )
    # Outside WhatsApp's window: "news about case X, answer to read it".
    news = Proactive("kabar_untuk_satgas", {"kode": case.code})
    if village is not None and village.escalation_channel and village.escalation_address:
        ctx.notify(village.escalation_channel, village.escalation_address, Outbound(text), subject_case_id=case.id, proactive=news)
    for channel, address in alert_recipients(ctx.session, case.village_code):
        ctx.notify(channel, address, Outbound(text), subject_case_id=case.id, proactive=news)


def _tell_reporter(ctx: TickContext, case: Case) -> None:
    reporter = ctx.session.get(Contact, case.reporter_id) if case.reporter_id else None
    if reporter is None or reporter.deleted_at is not None:
        return
    ctx.notify(
        reporter.channel, reporter.address, Outbound(ctx.content.text("reporter_case_expired", code=case.code)),
        contact_id=reporter.id, subject_case_id=case.id,
        proactive=Proactive("kabar_kasus", {"kode": case.code, "kabar": "ditutup karena lama tidak ada tindak lanjut."}),
    )
