"""What a Twilio status callback's lookup costs at size, before and after
issue 29, side by side in one run.

    ./dev py -m bench.status_callback [--rows 1000000] [--calls 2000] [--old-calls 40]

Twilio calls back about three times per outbound message (sent, delivered,
read): at 100 msg/s with 1.4 replies each, some 420 lookups a second. Before
issue 29 the callback found its row with `provider_message_id = :sid` on an
unindexed column and, when that missed (a split message keeps its ids
comma-joined), with `LIKE '%sid%'`: a sequential scan of the outbox each time.
Now it reads outbound_provider_ids by key (`bot.channels.whatsapp.status_row`).

The script creates a scratch PostgreSQL database (`CREATE DATABASE`, dropped
at the end, also on failure) on `DESMIGRAS_BENCH_POSTGRES` (default
postgresql://postgres@127.0.0.1:5432/test), brings it to the newest schema,
fills `--rows` sent WhatsApp messages with INSERT ... SELECT generate_series
(every tenth split in two parts, as long replies are), and times each lookup
in its own transaction, as the callback runs it (SELECT ... FOR UPDATE, then
commit): the old path for a whole message's id (equality only), the old path
for a split message's second part (equality missed, then LIKE), and the new
one for both. It prints milliseconds per call (wall time, client included),
PostgreSQL's own execution time for a sample (EXPLAIN ANALYZE) and the ratios.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from typing import TYPE_CHECKING, Callable, Optional

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from bench.load import create_pg_database, drop_pg_database
from bot.channels import WHATSAPP
from bot.channels.whatsapp import status_row
from bot.storage.db import make_engine, make_session_factory, migrate
from bot.storage.models import OutboundMessage

if TYPE_CHECKING:
    from sqlalchemy import Select

SPLIT_EVERY = 10  # every tenth message went out in two parts

FILL_MESSAGES = text(
    "INSERT INTO outbound_messages (channel, address, contact_id, text, options, status, attempts,"
    " next_attempt_at, created_at, sent_at, provider_message_id, provider_status)"
    " SELECT 'whatsapp', '+62812' || lpad(mod(g, 200000)::text, 7, '0'), NULL,"
    " 'Balasan nomor ' || g || ': ' || repeat('informasi migrasi aman dari desa ', 4), '[]', 'sent', 1,"
    " ts, ts, ts,"
    " 'SM' || lpad(to_hex(g), 30, '0') || '01'"
    " || CASE WHEN mod(g, :split) = 0 THEN ',SM' || lpad(to_hex(g), 30, '0') || '02' ELSE '' END,"
    " 'read'"
    " FROM generate_series(1, :rows) AS g,"
    " LATERAL (SELECT timestamp '2026-01-01' + g * interval '30 seconds') AS t(ts)"
)
# What the settle writes (bot.outbox): one row per id, split parts included.
FILL_IDS = text(
    "INSERT INTO outbound_provider_ids (provider_id, outbound_id)"
    " SELECT 'SM' || lpad(to_hex(id), 30, '0') || '01', id FROM outbound_messages"
    " UNION ALL"
    " SELECT 'SM' || lpad(to_hex(id), 30, '0') || '02', id FROM outbound_messages WHERE mod(id, :split) = 0"
)


def sid(number: int, part: int) -> str:
    return f"SM{number:030x}{part:02d}"


def old_lookup(session: Session, provider_id: str) -> Optional[OutboundMessage]:
    """The callback's lookup before issue 29 (bot/channels/whatsapp.py at dfc059c)."""
    return session.execute(
        select(OutboundMessage).where(OutboundMessage.provider_message_id == provider_id).with_for_update()
    ).scalar_one_or_none() or session.execute(
        select(OutboundMessage)
        .where(OutboundMessage.provider_message_id.like(f"%{provider_id}%"), OutboundMessage.channel == WHATSAPP)
        .with_for_update()
    ).scalars().first()


def new_lookup(session: Session, provider_id: str) -> Optional[OutboundMessage]:
    return session.execute(status_row(provider_id)).scalars().first()


def time_calls(
    sessions: sessionmaker[Session], lookup: Callable[[Session, str], Optional[OutboundMessage]], sids: list[tuple[str, int]]
) -> list[float]:
    """Milliseconds per call, each in its own transaction; every call must find its row."""
    times = []
    for provider_id, expected in sids:
        started = time.perf_counter()
        with sessions() as session, session.begin():
            row = lookup(session, provider_id)
        times.append((time.perf_counter() - started) * 1000)
        if row is None or row.id != expected:
            raise SystemExit(f"lookup of {provider_id} found {row and row.id}, expected {expected}")
    return times


def server_ms(sessions: sessionmaker[Session], statements: list[Select[tuple[OutboundMessage]]]) -> float:
    """PostgreSQL's own execution time (EXPLAIN ANALYZE) summed over the
    statements of one lookup: the figure without the client and the network,
    steadier than wall time on a busy machine."""
    total = 0.0
    with sessions() as session, session.begin():
        connection = session.connection()
        for statement in statements:
            compiled = statement.compile(dialect=connection.dialect)
            plan = connection.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + str(compiled), compiled.params).scalar_one()
            total += float(plan[0]["Execution Time"])
        session.rollback()
    return total


def old_statements(provider_id: str, split: bool) -> list[Select[tuple[OutboundMessage]]]:
    """The statements `old_lookup` runs: the LIKE only when the equality missed."""
    equal = select(OutboundMessage).where(OutboundMessage.provider_message_id == provider_id).with_for_update()
    like = (
        select(OutboundMessage)
        .where(OutboundMessage.provider_message_id.like(f"%{provider_id}%"), OutboundMessage.channel == WHATSAPP)
        .with_for_update()
    )
    return [equal, like] if split else [equal]


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"mean {statistics.fmean(times):8.3f} ms   median {statistics.median(times):8.3f} ms   p95 {p95:8.3f} ms   ({len(times)} calls)"


def run(rows: int, calls: int, old_calls: int, seed: int) -> None:
    name, url = create_pg_database()
    try:
        engine = make_engine(url)
        migrate(engine)
        started = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(FILL_MESSAGES, {"rows": rows, "split": SPLIT_EVERY})
            connection.execute(FILL_IDS, {"split": SPLIT_EVERY})
        filled = time.perf_counter() - started
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE outbound_messages")
            connection.exec_driver_sql("VACUUM ANALYZE outbound_provider_ids")
            sizes = connection.exec_driver_sql(
                "SELECT pg_size_pretty(pg_total_relation_size('outbound_messages')),"
                " pg_size_pretty(pg_total_relation_size('outbound_provider_ids')),"
                " (SELECT count(*) FROM outbound_provider_ids)"
            ).one()
        print(f"database {name}: {rows:,} outbound messages filled in {filled:.1f} s "
              f"(outbound_messages {sizes[0]}, outbound_provider_ids {sizes[1]}, {sizes[2]:,} ids)")

        sessions = make_session_factory(engine)
        rng = random.Random(seed)
        whole = [(sid(n, 1), n) for n in (rng.randrange(1, rows + 1) for _ in range(max(calls, old_calls)))]
        splits = [n for n in range(SPLIT_EVERY, rows + 1, SPLIT_EVERY)]
        second = [(sid(n, 2), n) for n in (rng.choice(splits) for _ in range(max(calls, old_calls)))]
        time_calls(sessions, old_lookup, whole[:3])  # warm the cache: both sides read a warm table
        time_calls(sessions, new_lookup, whole[:3])

        results = {
            "before, whole message (= on the column)": time_calls(sessions, old_lookup, whole[:old_calls]),
            "before, part 2 of a split (=, then LIKE)": time_calls(sessions, old_lookup, second[:old_calls]),
            "after, whole message (key)": time_calls(sessions, new_lookup, whole[:calls]),
            "after, part 2 of a split (key)": time_calls(sessions, new_lookup, second[:calls]),
        }
        for label, times in results.items():
            print(f"{label:42s} {summary(times)}")
        sample = 10
        server = {
            "before, whole message": [server_ms(sessions, old_statements(p, False)) for p, _n in whole[:sample]],
            "before, part 2 of a split": [server_ms(sessions, old_statements(p, True)) for p, _n in second[:sample]],
            "after, whole message": [server_ms(sessions, [status_row(p)]) for p, _n in whole[:sample]],
            "after, part 2 of a split": [server_ms(sessions, [status_row(p)]) for p, _n in second[:sample]],
        }
        for label, times in server.items():
            print(f"server execution (EXPLAIN ANALYZE), {label:26s} median {statistics.median(times):9.3f} ms ({sample} calls)")
        for kind, before, after in (
            ("whole message", "before, whole message (= on the column)", "after, whole message (key)"),
            ("part 2 of a split", "before, part 2 of a split (=, then LIKE)", "after, part 2 of a split (key)"),
        ):
            ratio = statistics.fmean(results[before]) / statistics.fmean(results[after])
            on_server = statistics.median(server[f"before, {kind}"]) / statistics.median(server[f"after, {kind}"])
            print(f"ratio before/after, {kind}: {ratio:,.0f}x per call (mean wall time), {on_server:,.0f}x on the server (median)")
        engine.dispose()
    finally:
        drop_pg_database(name)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="outbound messages to fill (default 1,000,000)")
    parser.add_argument("--calls", type=int, default=2000, help="timed lookups per kind, new path")
    parser.add_argument("--old-calls", type=int, default=40, help="timed lookups per kind, old path (each scans the table)")
    parser.add_argument("--seed", type=int, default=29)
    args = parser.parse_args(argv)
    if args.rows < SPLIT_EVERY:
        parser.error(f"--rows must be at least {SPLIT_EVERY}")
    run(args.rows, args.calls, args.old_calls, args.seed)


if __name__ == "__main__":
    main(sys.argv[1:])
