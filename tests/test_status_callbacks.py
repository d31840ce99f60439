"""Twilio status callbacks find their message by key (issue 29).

About three callbacks come per outbound message, and a district's outbox holds
millions of rows after a year: the lookup must never scan it. Every provider
id (each part of a split message too) has its row in outbound_provider_ids,
written with the settle of the send; the callback reads that key. Real
delivery against the fake Twilio on SQLite and PostgreSQL, and PostgreSQL's
own plan for the lookup at 50,000 messages.
"""

from __future__ import annotations

from typing import Any, Iterator

from alembic import command
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

from bot.channels.whatsapp import status_row
from bot.storage.db import alembic_config, make_engine
from bot.storage.models import OutboundMessage, OutboundProviderId
from tests.channel_kit import running_rig, wa_form
from tests.test_broadcasts import status_callback

PHONE = "+6281234529001"
ROWS = 50_000


def _long_text(paragraphs: int) -> str:
    return "\n\n".join(f"Paragraf {i}: " + ("kata " * 140).strip() for i in range(1, paragraphs + 1))


def test_a_callback_for_the_second_part_of_a_split_message_updates_that_message(database_url, classifier, clock) -> None:  # type: ignore[no-untyped-def]
    with running_rig(database_url, classifier, clock) as rig:
        rig.whatsapp(wa_form(PHONE, "halo"))  # opens the 24-hour window
        rig.deliver()
        rig.twilio.clear()
        text = _long_text(5)  # ~3500 characters: three WhatsApp parts
        with rig.bot.sessions() as session, session.begin():
            for body in (text, "pesan pendek sesudahnya"):
                session.add(
                    OutboundMessage(
                        channel="whatsapp", address=PHONE, text=body, options=[], status="pending",
                        attempts=0, next_attempt_at=clock.now(), created_at=clock.now(),
                    )
                )
        rig.deliver()
        parts = [m.sid for m in rig.twilio.sent()]
        assert len(parts) == 4, "three parts, then the short message"
        long_row, short_row = rig.rows("whatsapp")[-2:]
        assert long_row.provider_message_id == ",".join(parts[:3])

        with rig.bot.sessions() as session:
            stored = session.execute(
                select(OutboundProviderId.provider_id, OutboundProviderId.outbound_id).order_by(OutboundProviderId.provider_id)
            ).all()
        assert {(p, o) for p, o in stored if o in (long_row.id, short_row.id)} == {
            *((sid, long_row.id) for sid in parts[:3]), (parts[3], short_row.id)
        }, "one row per id, split parts included, written by the settle"

        assert status_callback(rig, parts[1], "delivered").status_code == 204
        long_row, short_row = rig.rows("whatsapp")[-2:]
        assert (long_row.provider_status, short_row.provider_status) == ("delivered", "sent")
        assert status_callback(rig, parts[3], "read").status_code == 204
        assert rig.rows("whatsapp")[-1].provider_status == "read"

        # The ids go with their message (retention and erasure delete rows).
        with rig.bot.sessions() as session, session.begin():
            session.execute(delete(OutboundMessage).where(OutboundMessage.id == long_row.id))
        with rig.bot.sessions() as session:
            left = session.execute(
                select(func.count()).select_from(OutboundProviderId).where(OutboundProviderId.outbound_id == long_row.id)
            ).scalar_one()
        assert left == 0
        assert status_callback(rig, parts[2], "read").status_code == 204  # its message is gone: nothing to do


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def _explain(connection: Connection, statement: Executable) -> list[dict[str, Any]]:
    """PostgreSQL's plan for the statement as the application sends it (same
    SQL, same bound values), as a flat list of nodes."""
    compiled = statement.compile(dialect=connection.dialect)
    raw = connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params).scalar_one()
    return list(_plan_nodes(raw[0]["Plan"]))


def _sid(number: int, part: int) -> str:
    return f"SM{number:030x}{part:02d}"


def test_the_status_callback_lookup_uses_indexes_at_size(empty_postgres_url: str) -> None:
    """50,000 messages (every tenth split in two) written before migration
    0008, which backfills their ids; then the callback's statement must reach
    its row by index, with no sequential scan of either table."""
    engine = make_engine(empty_postgres_url)
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0007")
        connection.exec_driver_sql(
            "INSERT INTO outbound_messages (channel, address, text, options, status, attempts,"
            " next_attempt_at, created_at, sent_at, provider_message_id)"
            " SELECT 'whatsapp', '+62812' || lpad(g::text, 7, '0'), 'pesan ' || g, '[]', 'sent', 1,"
            " now(), now(), now(),"
            " 'SM' || lpad(to_hex(g), 30, '0') || '01'"
            " || CASE WHEN mod(g, 10) = 0 THEN ',SM' || lpad(to_hex(g), 30, '0') || '02' ELSE '' END"
            f" FROM generate_series(1, {ROWS}) AS g"
        )
        command.upgrade(config, "head")
        assert connection.exec_driver_sql("SELECT count(*) FROM outbound_provider_ids").scalar_one() == ROWS + ROWS // 10
        connection.exec_driver_sql("ANALYZE outbound_messages")
        connection.exec_driver_sql("ANALYZE outbound_provider_ids")

    with engine.connect() as connection:
        # Control: the old lookup on this data is a sequential scan, so the
        # check below can tell one when it sees it.
        old = select(OutboundMessage).where(OutboundMessage.provider_message_id.like(f"%{_sid(40_000, 2)}%"))
        assert "Seq Scan" in {node["Node Type"] for node in _explain(connection, old)}

        sid = _sid(40_000, 2)  # the second part of a split message
        nodes = _explain(connection, status_row(sid))
        scans = {node.get("Relation Name"): node["Node Type"] for node in nodes if "Relation Name" in node}
        assert not [node for node in nodes if node["Node Type"] == "Seq Scan"], scans
        assert scans.get("outbound_provider_ids") in ("Index Scan", "Index Only Scan"), scans
        assert scans.get("outbound_messages") == "Index Scan", scans

        assert connection.execute(status_row(sid)).one().id == 40_000
    engine.dispose()
