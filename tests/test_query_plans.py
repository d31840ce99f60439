"""What PostgreSQL does with the bot's hot statements on a year's data (issue 29).

A district's database holds millions of messages after a year; a statement
that reads a whole big table once per callback, claim, console page or
erasure is fast in every test on an empty database and slow in production.
The statements are the application's own: each path runs for real against a
seeded database (`bench.seed_year`) while every statement it sends is
recorded, then PostgreSQL's plan for exactly that SQL with those values is
read with EXPLAIN (FORMAT JSON). No plan may read a big table whole: no
sequential scan, and no index walked end to end without a condition on it
(how the outbox claim read a year's outbox). Foreign keys into tables the
bot deletes from must be indexed (retention). The planner is left alone (no `enable_seqscan = off`): the tables
are big enough that it picks an index whenever one fits.

The database has the year's 20,000 cases (the console reads those) and a
smaller share of the messages (150,000 in, 200,000 out), so the test seeds in
well under a minute; a sequential scan of 200,000 rows is already the
planner's worse choice, as it is of 7 million.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from bench import seed_year
from bot.app import features
from bot.channels.whatsapp import status_row
from bot.clock import SystemClock
from bot.config import PROJECT_ROOT
from bot.domain import accounts, cases, personal_data
from bot.kelola import queries, unread
from bot.outbox import Outbox
from bot.storage.complaint_models import Case
from bot.storage.db import make_engine, make_session_factory
from bot.storage.models import Contact, OutboundMessage, OutboundProviderId, SatgasMember
from bot.storage.training_models import TrainingRegistration
from tests.conftest import POSTGRES_URL, _require_postgres

BIG = frozenset({
    "contacts", "conversations", "inbound_messages", "outbound_messages", "outbound_provider_ids", "events",
    "cases", "case_events", "training_registrations",
})
COUNTS = seed_year.Counts(contacts=30_000, inbound=150_000, outbound=200_000, cases=20_000, registrations=1_000)
CLOCK = SystemClock()


@pytest.fixture(scope="module")
def year() -> Iterator[tuple[Engine, sessionmaker[Session]]]:
    _require_postgres()
    url = make_url(POSTGRES_URL).set(database=f"desmigras_plans_{uuid.uuid4().hex[:10]}").render_as_string(hide_password=False)
    try:
        seed_year.seed(url, 0.0, 29, quiet=True, counts=COUNTS)
        engine = make_engine(url)
        yield engine, make_session_factory(engine)
        engine.dispose()
    finally:
        seed_year.teardown(url)


@contextmanager
def recorded(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the application sends through `engine` meanwhile, with its values."""
    sent: list[tuple[str, Any]] = []

    def before(_connection: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool) -> None:
        if not executemany and statement.lstrip().split(None, 1)[0].upper() in ("SELECT", "UPDATE", "DELETE", "INSERT", "WITH"):
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def scans(engine: Engine, statement: str, parameters: Any = None) -> list[tuple[str, str, str]]:
    """(table, how, index) for every table PostgreSQL would read for this
    statement (EXPLAIN without ANALYZE: an UPDATE or DELETE is planned, not
    run). `how` is "Full Index Scan" for an index scan with no condition on
    the index: it walks the whole index (for its order) and filters, which
    is a sequential scan in another order."""
    with engine.connect() as connection:
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
        plan = cursor.fetchone()[0][0]["Plan"]
        connection.rollback()
    found = []
    for node in _nodes(plan):
        if "Relation Name" not in node:
            continue
        how = node["Node Type"]
        if how in ("Index Scan", "Index Only Scan") and "Index Cond" not in node:
            how = "Full Index Scan"
        found.append((node["Relation Name"], how, node.get("Index Name", "")))
    return found


def assert_indexed(engine: Engine, sent: list[tuple[str, Any]], at_least: int) -> None:
    assert len(sent) >= at_least, [s for s, _p in sent]
    for statement, parameters in sent:
        found = scans(engine, statement, parameters)
        whole = [table for table, how, _index in found if how in ("Seq Scan", "Full Index Scan") and table in BIG]
        assert not whole, f"whole-table read of {whole} in\n{statement}\n{parameters}\nplan: {found}"


def run_recorded(year: tuple[Engine, sessionmaker[Session]], work: Callable[[Session], Any], at_least: int) -> Any:
    """`work` in a transaction that is rolled back; its statements' plans checked."""
    engine, sessions = year
    with recorded(engine) as sent, sessions() as session:
        session.begin()
        try:
            result = work(session)
        finally:
            session.rollback()
    assert_indexed(engine, sent, at_least)
    return result


def test_the_check_sees_a_sequential_scan_when_there_is_one(year: tuple[Engine, sessionmaker[Session]]) -> None:
    engine, _sessions = year
    found = scans(engine, "SELECT id FROM outbound_messages WHERE provider_message_id LIKE %(p)s", {"p": "%SM0001%"})
    assert ("outbound_messages", "Seq Scan", "") in found
    # The claim's old shape: the primary key walked for its order, the rest filtered.
    walked = scans(engine, "SELECT id FROM outbound_messages WHERE attempts >= %(a)s ORDER BY id LIMIT 20", {"a": 0})
    assert [how for table, how, _i in walked if table == "outbound_messages"] == ["Full Index Scan"]


def test_a_status_callback_finds_its_message_by_index(year: tuple[Engine, sessionmaker[Session]]) -> None:
    _engine, sessions = year
    with sessions() as session:
        split = session.execute(
            select(OutboundMessage.id, OutboundMessage.provider_message_id)
            .where(OutboundMessage.channel == "whatsapp", OutboundMessage.provider_message_id.contains(","))
            .limit(1)
        ).first()
        whole = session.execute(
            select(OutboundProviderId.provider_id, OutboundProviderId.outbound_id)
            .join(OutboundMessage, OutboundMessage.id == OutboundProviderId.outbound_id)
            .where(OutboundMessage.channel == "whatsapp").limit(1)
        ).one()
    lookups = [(whole[0], whole[1])] + ([(split[1].split(",")[1], split[0])] if split else [])

    def callbacks(session: Session) -> None:
        for sid, expected in lookups:
            assert session.execute(status_row(sid)).scalars().one().id == expected

    run_recorded(year, callbacks, len(lookups))


def test_the_outbox_claim_reads_only_due_messages_by_index(year: tuple[Engine, sessionmaker[Session]]) -> None:
    """On a year's outbox (bench.at_size) PostgreSQL walked the whole primary
    key in id order for the claim, 4.8 s per pass, because it took the
    console's pending satgas alerts for due WhatsApp rows (channel and status
    estimated as independent); this database shows the same without the
    statistics of migration 0015."""
    engine, sessions = year
    outbox = Outbox(sessions, CLOCK)
    with recorded(engine) as sent:
        for channel in ("whatsapp", "telegram"):
            assert outbox.claim(channel) == []  # a year of settled messages: nothing is due
    assert_indexed(engine, sent, 2)


def _viewers(session: Session) -> list[accounts.Viewer]:
    now = CLOCK.now()
    coordinator = accounts.create_user(session, "koordinator-rencana", "koordinator", now)
    member = session.execute(select(SatgasMember).order_by(SatgasMember.id).limit(1)).scalar_one()
    satgas = accounts.create_user(session, "satgas-rencana", "satgas", now, identity=f"{member.channel}:{member.address}")
    session.flush()
    found = [accounts.viewer_of(session, coordinator.id), accounts.viewer_of(session, satgas.id)]
    assert all(v is not None for v in found)
    return found  # type: ignore[return-value]


def test_the_console_queue_reads_cases_by_index(year: tuple[Engine, sessionmaker[Session]]) -> None:
    settings = cases.settings_for(PROJECT_ROOT / "content")

    def pages(session: Session) -> None:
        now = CLOCK.now()
        for viewer in _viewers(session):
            filters = [
                queries.QueueFilter(),  # the open cases, as the queue opens
                queries.QueueFilter(urgent=True),
                queries.QueueFilter(overdue=True),
                queries.QueueFilter(category="gaji_tidak_dibayar", page=2),
                queries.QueueFilter(status="diproses"),
            ]
            for chosen in filters:
                shown = queries.queue(session, viewer, chosen, settings, now, personal=True)
                unread.per_case(session, viewer, [row.case.id for row in shown.rows])
            assert queries.queue(session, viewer, queries.QueueFilter(), settings, now, personal=True).total > 0
            unread.cases_with_news(session, viewer)

    run_recorded(year, pages, 20)


def test_the_status_tabs_count_every_case_from_the_index_alone(year: tuple[Engine, sessionmaker[Session]]) -> None:
    """The queue's tabs show how many cases each status has: a count over
    every case in the viewer's scope, so the whole scope is read by design;
    it must come from ix_cases_status alone (an index-only scan, no row read)
    or, for one village, from ix_cases_village_status by its condition."""
    engine, sessions = year
    with recorded(engine) as sent, sessions() as session, session.begin():
        for viewer in _viewers(session):
            assert sum(queries.status_counts(session, viewer).values()) > 0
        session.rollback()
    assert len(sent) >= 2
    for statement, parameters in sent:
        found = [(how, index) for table, how, index in scans(engine, statement, parameters) if table == "cases"]
        if "GROUP BY" not in statement:
            continue
        assert found and all(how != "Seq Scan" for how, _i in found), (statement, found)
        assert all(index in ("ix_cases_status", "ix_cases_village_status") for _how, index in found), (statement, found)


def test_the_case_page_reads_one_case_by_index(year: tuple[Engine, sessionmaker[Session]]) -> None:
    with year[1]() as session:
        code = session.execute(select(Case.code).where(Case.status == "diproses").limit(1)).scalar_one()

    def page(session: Session) -> None:
        viewer = _viewers(session)[0]
        case = queries.visible_case(session, viewer, code)
        assert case is not None
        assert queries.timeline(session, case, personal=True)
        unread.mark_read(session, viewer, case, CLOCK.now())
        unread.per_case(session, viewer, [case.id])
        unread.cases_with_news(session, viewer)

    run_recorded(year, page, 5)


def test_erasing_one_person_finds_their_rows_by_index(year: tuple[Engine, sessionmaker[Session]]) -> None:
    """A person who reported a case and registered for a training asks for
    their data to be deleted: every feature's eraser, as the deletion flow runs
    them (bot.app wires the same list)."""
    erasers = [eraser for feature in features()[1:] for eraser in feature.erasers]
    assert erasers

    with year[1]() as session:
        contact_id = session.execute(
            select(Case.reporter_id).join(TrainingRegistration, TrainingRegistration.contact_id == Case.reporter_id).limit(1)
        ).scalar() or session.execute(select(Case.reporter_id).limit(1)).scalar_one()

    def erase(session: Session) -> None:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        personal_data.erase_contact(session, contact, CLOCK.now(), erasers)
        session.flush()

    run_recorded(year, erase, 8)


# Tables the bot deletes rows from (retention, erasure, cleanup): a foreign key
# into one of them acts on every deleted row (CASCADE, SET NULL), and without
# an index on the referencing column PostgreSQL reads the referencing table
# whole for each (retention's batches of inbound messages took 1.9 s per row
# on a year's outbox). Contacts, cases, villages and trainings are anonymised
# or kept, never deleted.
DELETED_FROM = frozenset({
    "inbound_messages", "outbound_messages", "conversations", "web_users", "web_sessions", "web_login_links",
    "broadcasts", "subscriptions", "nlu_examples",
})


def test_every_foreign_key_into_a_table_the_bot_deletes_from_is_indexed(year: tuple[Engine, sessionmaker[Session]]) -> None:
    engine, _sessions = year
    with engine.connect() as connection:
        keys = connection.execute(text(
            "SELECT c.conrelid::regclass::text, c.conname, c.confrelid::regclass::text,"
            " EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid"
            "         AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] = c.conkey)"
            " FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace"
        )).all()
    assert any(referenced == "inbound_messages" for _t, _n, referenced, _i in keys)
    unindexed = [(table, name) for table, name, referenced, indexed in keys if referenced in DELETED_FROM and not indexed]
    assert not unindexed
