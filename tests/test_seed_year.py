"""bench.seed_year at a tiny scale (issue 29): a year of a district written
with COPY into a PostgreSQL database of its own, with the bot's own schema,
rows the bot and the console read as theirs, and gone after --teardown.

Only PostgreSQL: the tool loads with COPY and puts PostgreSQL's keys and
foreign keys back afterwards (which checks every row).
"""

from __future__ import annotations

import re
import uuid
from contextlib import closing
from datetime import datetime, timedelta
from typing import Iterator

import psycopg2
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bench import seed_year
from bot.app import sync_reference_data
from bot.channels.whatsapp import status_row
from bot.clock import SystemClock
from bot.config import PROJECT_ROOT
from bot.domain import accounts, cases
from bot.domain.villages import load_villages
from bot.kelola import queries, unread
from bot.storage.complaint_models import OPEN_STATUSES, STATUSES, Case, CaseEvent
from bot.storage.db import alembic_config, make_engine, make_session_factory, migrate
from bot.storage.models import Contact, InboundMessage, OutboundMessage, OutboundProviderId, Village
from bot.storage.training_models import TrainingRegistration
from tests.conftest import POSTGRES_URL, _require_postgres

SCALE = 0.001  # 200 contacts, 3,000 inbound and 4,000 outbound messages, 20 cases, 5 registrations
WHATSAPP_ADDRESS = re.compile(r"^\+628000\d{7}$")
CLOCK = SystemClock()


@pytest.fixture
def seeded_url() -> Iterator[str]:
    _require_postgres()
    url = make_url(POSTGRES_URL).set(database=f"desmigras_seed_{uuid.uuid4().hex[:10]}").render_as_string(hide_password=False)
    try:
        yield url
    finally:
        seed_year.teardown(url)


def _exists(url: str) -> bool:
    name = make_url(url).database
    with closing(seed_year.admin_connection(url)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return cursor.fetchone() is not None


def _schema(url: str) -> seed_year.Schema:
    with closing(psycopg2.connect(seed_year.libpq_dsn(url))) as connection, connection.cursor() as cursor:
        return seed_year.Schema.read(cursor)


def test_a_tiny_year_is_the_bots_schema_and_rows_the_console_reads_then_torn_down(seeded_url: str, postgres_url: str) -> None:
    started = CLOCK.now()
    report = seed_year.seed(seeded_url, SCALE, 29, quiet=True)
    assert report["database_bytes"] > 0 and report["bytes_per_million_messages"] > 0

    # The same schema as the migrations make: revision at head, and every key,
    # index and foreign key as in a freshly migrated database.
    fresh, seeded = _schema(postgres_url), _schema(seeded_url)
    assert (seeded.keys, seeded.indexes, seeded.foreign) == (fresh.keys, fresh.indexes, fresh.foreign)
    assert len(seeded.foreign) > 10
    engine = make_engine(seeded_url)
    try:
        with engine.connect() as connection:
            head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
        migrate(engine)  # what the bot does when it starts on this database: nothing to do, nothing breaks
        sessions = make_session_factory(engine)
        with sessions() as session, session.begin():
            sync_reference_data(session, PROJECT_ROOT / "content")

        with sessions() as session:
            def count(model: type, *where: object) -> int:
                return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()  # type: ignore[arg-type]

            assert count(Contact) == 200
            assert count(InboundMessage) == 3000
            assert count(OutboundMessage) >= 4000
            assert count(Case) == 20
            assert count(TrainingRegistration) == 5
            assert count(CaseEvent) >= 20 * 2  # reported and at least claimed or reminded

            # A year back from now, nothing in the future.
            first, last = session.execute(select(func.min(InboundMessage.received_at), func.max(InboundMessage.received_at))).one()
            assert started - timedelta(days=366) <= first and last <= CLOCK.now()
            assert last - first > timedelta(days=300)

            # Villages from content/, statuses the bot knows, clearly fake numbers.
            villages = {v.code for v in load_villages(PROJECT_ROOT / "content")}
            assert set(session.execute(select(Contact.village_code).distinct()).scalars()) - {None} <= villages
            assert set(session.execute(select(Case.village_code).distinct()).scalars()) <= villages
            assert set(session.execute(select(Case.status).distinct()).scalars()) <= set(STATUSES)
            for channel, address, deleted in session.execute(select(Contact.channel, Contact.address, Contact.deleted_at)):
                if deleted is not None:
                    assert address.startswith("dihapus-")
                elif channel == "whatsapp":
                    assert WHATSAPP_ADDRESS.match(address), address
                else:
                    assert channel == "telegram" and address.isdigit() and len(address) == 13, address
            assert all(WHATSAPP_ADDRESS.match(p) for p in session.execute(select(Case.contact_phone)).scalars())
            assert all(WHATSAPP_ADDRESS.match(p) for p in session.execute(select(TrainingRegistration.phone)).scalars())

            # Every provider id of every sent message has its key row (split parts too).
            mismatched = session.execute(text(
                "SELECT count(*) FROM outbound_messages m WHERE m.provider_message_id IS NOT NULL AND"
                " (SELECT count(*) FROM outbound_provider_ids p WHERE p.outbound_id = m.id)"
                " <> cardinality(string_to_array(m.provider_message_id, ','))"
            )).scalar_one()
            assert mismatched == 0
            assert count(OutboundProviderId) >= 3000
            provider_id, outbound_id = session.execute(
                select(OutboundProviderId.provider_id, OutboundProviderId.outbound_id)
                .join(OutboundMessage, OutboundMessage.id == OutboundProviderId.outbound_id)
                .where(OutboundMessage.channel == "whatsapp").limit(1)
            ).one()
            assert session.execute(status_row(provider_id)).scalars().one().id == outbound_id  # a status callback finds it

            # Nothing is due the moment the bot starts: no timer and no WhatsApp message to send.
            now = CLOCK.now()
            assert session.execute(select(func.count()).select_from(Case).where(Case.remind_at <= now)).scalar_one() == 0
            assert not cases.due_escalations(session, now)
            assert count(OutboundMessage, OutboundMessage.channel != "console", OutboundMessage.status != "sent") == 0

        # The console's queue and case page read the seeded cases.
        settings = cases.settings_for(PROJECT_ROOT / "content")
        with sessions() as session, session.begin():
            coordinator = accounts.create_user(session, "koordinator-uji", "koordinator", CLOCK.now())
            session.flush()
            viewer = accounts.viewer_of(session, coordinator.id)
            assert viewer is not None
            every = queries.queue(session, viewer, queries.QueueFilter(status=""), settings, CLOCK.now(), personal=True)
            codes = set(session.execute(select(Case.code)).scalars())
            assert every.total == 20 and {row.case.code for row in every.rows} == codes
            open_count = count(Case, Case.status.in_(OPEN_STATUSES))
            assert queries.queue(session, viewer, queries.QueueFilter(), settings, CLOCK.now(), personal=True).total == open_count

            village = session.execute(select(Case.village_code).group_by(Case.village_code).order_by(func.count().desc())).scalars().first()
            in_village = queries.queue(session, viewer, queries.QueueFilter(status="", village=village), settings, CLOCK.now(), personal=True)
            assert in_village.total == count(Case, Case.village_code == village)
            assert {row.village for row in in_village.rows} == {session.get(Village, village).name}

            code = every.rows[0].case.code
            case = queries.visible_case(session, viewer, code)
            assert case is not None and case.code == code
            entries = queries.timeline(session, case, personal=True)
            assert entries[0].kind == "dibuat"
            assert len(entries) == count(CaseEvent, CaseEvent.case_id == case.id)
            assert [e.when for e in entries] == sorted(e.when for e in entries)
            unread.mark_read(session, viewer, case, CLOCK.now())
            assert unread.per_case(session, viewer, [case.id]) == {}
    finally:
        engine.dispose()

    seed_year.teardown(seeded_url)
    assert not _exists(seeded_url)


def test_the_tool_seeds_only_a_database_it_creates_and_drops_only_one_it_made(seeded_url: str, postgres_url: str) -> None:
    with pytest.raises(SystemExit, match="not made by bench.seed_year"):
        seed_year.teardown(postgres_url)
    assert _exists(postgres_url)
    with pytest.raises(SystemExit, match="already exists"):
        seed_year.seed(postgres_url, SCALE, 29, quiet=True)
    with pytest.raises(SystemExit, match="PostgreSQL"):
        seed_year.seed("sqlite:///var/x.sqlite3", SCALE, 29, quiet=True)
