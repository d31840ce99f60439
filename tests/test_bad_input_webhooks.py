"""Property-based: arbitrary bodies, forms and text against both webhooks get a
clear reply or a 4xx, never a 5xx, and the database stays consistent."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select

from bot.storage.models import InboundMessage, OutboundMessage
from tests.channel_kit import SECRET, running_rig, tg_message, wa_form

_serial = itertools.count(1)
TEXTS = st.one_of(
    st.text(max_size=500),
    st.sampled_from(["'; DROP TABLE contacts; --", "{{7*7}}", "{bp2mi}", "\x00\x1b[0m", "ambil ADU-XXXX", "/unknown"]),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _consistent(rig: Any) -> None:
    """Every stored message was processed (or kept with an error), and every reply belongs to one."""
    with rig.bot.sessions() as session:
        unprocessed = session.execute(
            select(func.count()).select_from(InboundMessage).where(InboundMessage.processed_at.is_(None), InboundMessage.error.is_(None))
        ).scalar()
        orphans = session.execute(
            select(func.count()).select_from(OutboundMessage).where(OutboundMessage.inbound_id.is_(None), OutboundMessage.contact_id.is_not(None))
        ).scalar()
    assert unprocessed == 0 and orphans == 0


def test_whatsapp_webhook_with_arbitrary_text_and_forms(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:

        @FUZZ
        @given(body=TEXTS, extra=st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=40), max_size=3), signed=st.booleans())
        def check(body: str, extra: dict[str, str], signed: bool) -> None:
            serial = next(_serial)
            form = wa_form(f"+62812{serial:08d}", body)
            form.update({k: v for k, v in extra.items() if k not in form})
            response = rig.whatsapp(form, signature="sign" if signed else "forged")
            assert response.status_code < 500, response.text
            if not signed:
                assert response.status_code == 403

        check()
        raw = [b"", b"%%%", b"Body=\xff\xfe", b"a=" + b"x" * 70_000, b"Body=" + b"x" * 100_000, b"From=whatsapp:+6281&From=x"]
        for payload in raw:
            response = rig.client.post(
                "/webhooks/whatsapp", content=payload, headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"}
            )
            assert 400 <= response.status_code < 500, (payload[:20], response.status_code)
        _consistent(rig)


def test_telegram_webhook_with_arbitrary_json_and_text(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:

        @FUZZ
        @given(text=TEXTS, junk=JSONISH)
        def check(text: str, junk: Any) -> None:
            serial = next(_serial)
            ok = rig.telegram_update(tg_message(1_000_000 + serial, text, update_id=5_000_000 + serial))
            assert ok.status_code < 500, ok.text
            odd = rig.client.post(
                "/webhooks/telegram",
                content=json.dumps(junk).encode(),
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
            )
            assert odd.status_code < 500, odd.text

        check()
        huge = json.dumps(tg_message(1_999_999, "x" * 100_000, update_id=9_999_999)).encode()  # a 100 KB update
        for payload in (b"{", b"\xff\xfe", b"[]", b"null", b'{"update_id": "x"}', huge):
            response = rig.client.post(
                "/webhooks/telegram", content=payload, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            )
            assert 400 <= response.status_code < 500, (payload, response.status_code)
        _consistent(rig)
