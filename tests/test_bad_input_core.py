"""Property-based: whatever arrives, the core answers clearly and stays consistent."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select

from bot.messages import Attachment, Inbound
from bot.storage.models import InboundMessage, OutboundMessage

_ids = itertools.count()

NASTY = st.sampled_from(
    [
        "'; DROP TABLE cases; --",
        "{{7*7}} ${7*7} {bp2mi} %s %(x)s",
        "<script>alert(1)</script>",
        "\x00\x01\x02\x1b[31m",
        "\ud800",  # lone surrogate
        "ambil ADU-0000",
        "/start /help /unknown_command",
        "🙏" * 500,
        "a" * 20_000,
        "tolong " * 15_000,  # about 100 KB
        "1" * 50,
        "99",
        "batal",
        "lanjut",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=300), NASTY), with_photo=st.booleans())
def test_any_text_gets_a_reply_and_is_stored_once(  # one sender per example: floods are tested elsewhere
bot, text: str, with_photo: bool) -> None:  # type: ignore[no-untyped-def]
    serial = next(_ids)
    message_id = f"fuzz-{serial}"
    attachments = (Attachment(kind="photo", reference="x"),) if with_photo else ()
    inbound = Inbound(channel="console", sender=f"62811{serial:08d}", text=text, message_id=message_id, attachments=attachments)
    replies = bot.core.handle(inbound)
    assert replies, f"no reply for {text[:40]!r}"
    assert all(r.text.strip() for r in replies)
    assert not any("gangguan teknis" in r.text for r in replies), "the turn crashed"
    assert not any("{" in r.text and "}" in r.text and "{{" not in text and "{" not in text for r in replies)
    with bot.sessions() as session:
        stored = session.execute(
            select(func.count()).select_from(InboundMessage).where(InboundMessage.external_id == message_id)
        ).scalar()
        queued = session.execute(
            select(func.count()).select_from(OutboundMessage).join(InboundMessage, OutboundMessage.inbound_id == InboundMessage.id).where(InboundMessage.external_id == message_id)
        ).scalar()
    assert stored == 1 and queued == len(replies)
