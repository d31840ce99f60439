"""The bot and its console on an empty database and on a year of a district's
data, side by side in one run (issue 29).

    ./dev py -m bench.seed_year --database-url postgresql://postgres@127.0.0.1:5432/desmigras_year --scale 1.0
    ./dev py -m bench.at_size --year-url postgresql://postgres@127.0.0.1:5432/desmigras_year [--rate 100 --seconds 60]
    ./dev py -m bench.seed_year --database-url postgresql://postgres@127.0.0.1:5432/desmigras_year --teardown

For each database (a new empty one, made and dropped here, then the seeded
year): the real `python -m bot.web` (one worker, delivery inside, one NLU
worker for the run) behind the real WhatsApp webhook, with the benchmark's
fake Twilio calling back for every reply (sent, delivered, read, a share
failed: bench/twilio_callbacks.py). It measures:

- an open loop at `--rate` messages per second for `--seconds` (signed
  webhooks; latency from sending each request to its answer, as bench.load
  counts it), the status callbacks it causes (the bot's answer time as the
  fake Twilio sees it), and whether every callback reached its row once;
- then, with nothing else running, the console's pages as a coordinator of
  every village sees them (signed in with a password through the sign-in
  form): the queue as it opens, the queue with a search and with filters,
  case pages of random cases, the dashboard; `--rounds` each, one at a time.

The year's database keeps the benchmark's messages afterwards (tear it down
with bench.seed_year). The bot starting on it runs its migrations (new
indexes are built then) and its timers, retention included: the year's
oldest messages reach the retention period while it runs, and are deleted
in batches beside the load, as they would be.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional

import httpx

from bench.load import (
    ROOT, Conversations, Procs, base_env, bot_sender, callbacks_settled, callbacks_switch, closed_loop, create_pg_database,
    drain, drop_pg_database, open_loop, pct, start_server,
)
from bench.seed_year import driver_url
from nlu.worker_process import start_worker

PASSWORD = "bench-" + secrets.token_urlsafe(18)
USERNAME = "bench-koordinator"
SECRET = secrets.token_urlsafe(48)


def coordinator(database_url: str) -> None:
    """A coordinator of every village with a password (the CLI's `users add` does the same)."""
    from bot.clock import SystemClock
    from bot.domain import accounts
    from bot.storage.db import make_engine, make_session_factory

    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            if not any(user.username == USERNAME for user in accounts.all_users(session)):
                accounts.create_user(session, USERNAME, "koordinator", SystemClock().now(), password=PASSWORD)
            else:
                accounts.set_password(session, USERNAME, PASSWORD)
    finally:
        engine.dispose()


def case_codes(database_url: str, count: int, seed: int) -> list[str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            codes = list(connection.execute(text("SELECT code FROM cases ORDER BY id")).scalars())
    finally:
        engine.dispose()
    rng = random.Random(seed)
    return [rng.choice(codes) for _ in range(count)] if codes else []


async def sign_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/kelola/masuk")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    if token is None:
        raise RuntimeError("the sign-in page has no form token")
    answer = await client.post("/kelola/masuk", data={"csrf": token.group(1), "nama": USERNAME, "sandi": PASSWORD})
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in answered {answer.status_code}")


async def console_pages(base_url: str, database_url: str, rounds: int) -> dict[str, Any]:
    """Milliseconds per page (client side, whole response), one request at a time."""
    codes = await asyncio.to_thread(case_codes, database_url, rounds, 29)
    pages: dict[str, list[str]] = {
        "queue (open cases, as it opens)": ["/kelola/antrean"] * rounds,
        "queue, search 'Siti' in all cases": ["/kelola/antrean?status=&cari=Siti"] * rounds,
        "queue, village + category + page 2": ["/kelola/antrean?desa=jlamprang&jenis=gaji_tidak_dibayar&status=&halaman=2"] * rounds,
        "case page": [f"/kelola/kasus/{code}" for code in codes],
        "dashboard": ["/kelola/dasbor"] * max(3, rounds // 3),
    }
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        await sign_in(client)
        for name, paths in pages.items():
            if not paths:
                out[name] = {"requests": 0}
                continue
            await client.get(paths[0])  # first view: templates and caches warm
            times, statuses = [], []
            for path in paths:
                started = time.perf_counter()
                answer = await client.get(path)
                times.append(time.perf_counter() - started)
                statuses.append(answer.status_code)
            out[name] = {"requests": len(paths), "non_200": sum(1 for s in statuses if s != 200),
                         "p50_ms": pct(times, 50), "p95_ms": pct(times, 95), "max_ms": round(max(times) * 1000, 1),
                         "mean_ms": round(statistics.fmean(times) * 1000, 1)}
    return out


def newest_outbound(database_url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT coalesce(max(id), 0) FROM outbound_messages")).scalar_one()
    finally:
        engine.dispose()


def delivery_delays(database_url: str, after_id: int) -> dict[str, Any]:
    """How long the replies written during the run waited in the outbox
    (queued to handed to Twilio), by the rows' own times."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(text(
                "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)),"
                " percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)),"
                " max(extract(epoch FROM sent_at - created_at))"
                " FROM outbound_messages WHERE id > :after AND channel = 'whatsapp' AND sent_at IS NOT NULL"
            ), {"after": after_id}).one()
    finally:
        engine.dispose()
    return {"replies": row[0], "p50_s": round(float(row[1] or 0), 2), "p95_s": round(float(row[2] or 0), 2),
            "max_s": round(float(row[3] or 0), 2)}


def database_figures(database_url: str) -> dict[str, Any]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(text(
                "SELECT pg_database_size(current_database()), (SELECT count(*) FROM inbound_messages),"
                " (SELECT count(*) FROM outbound_messages), (SELECT count(*) FROM cases)"
            )).one()
    finally:
        engine.dispose()
    return {"bytes": row[0], "inbound": row[1], "outbound": row[2], "cases": row[3]}


async def measure(procs: Procs, label: str, database_url: str, twilio_url: str, nlu: Any, logs: Path,
                  rate: float, seconds: float, rounds: int, prefix: int) -> dict[str, Any]:
    print(f"[{time.strftime('%H:%M:%S')}] {label}: starting the web app...", flush=True)
    server = await start_server(procs, label, database_url, twilio_url, 1, logs, nlu=nlu,
                                extra_env={"DESMIGRAS_CONSOLE": "1", "DESMIGRAS_WEB_SECRET": SECRET})
    entry: dict[str, Any] = {"ready_s": round(server.startup_s, 1)}
    try:
        entry["database_before"] = await asyncio.to_thread(database_figures, database_url)  # migrated by the bot's start
        await asyncio.to_thread(coordinator, database_url)
        send = bot_sender(server.url, server.public_url)
        await closed_loop("warmup", send, [Conversations(prefix, i) for i in range(4)], 40, 60)
        await drain(database_url, 120)
        print(f"[{time.strftime('%H:%M:%S')}] {label}: open loop {rate:g} msg/s for {seconds:g} s with status callbacks...", flush=True)
        await callbacks_switch(twilio_url, True)
        newest = await asyncio.to_thread(newest_outbound, database_url)
        result = await open_loop("open", send, max(200, int(rate * 4)), prefix, rate, seconds)
        result.extra["drain_after_s"] = round(await drain(database_url, 300), 1)
        result.extra["reply_delivery"] = await asyncio.to_thread(delivery_delays, database_url, newest)
        result.extra["callbacks"] = await callbacks_settled(twilio_url, database_url, 120)
        entry["open_loop"] = result.summary()
        print(f"    {json.dumps(entry['open_loop'])}", flush=True)
        print(f"[{time.strftime('%H:%M:%S')}] {label}: console pages, {rounds} of each...", flush=True)
        entry["console"] = await console_pages(server.url, database_url, rounds)
        print(f"    {json.dumps(entry['console'])}", flush=True)
    finally:
        procs.stop(server.proc, timeout=40)
    return entry


def table(out: dict[str, Any]) -> str:
    runs = out["runs"]
    labels = list(runs)
    rows: list[tuple[str, list[str]]] = []

    def cell(run: dict[str, Any], *keys: str) -> str:
        value: Any = run
        for key in keys:
            value = (value or {}).get(key) if isinstance(value, dict) else None
        return "-" if value is None else str(value)

    rows.append(("database: inbound / outbound / cases", [
        f"{runs[l]['database_before']['inbound']:,} / {runs[l]['database_before']['outbound']:,} / {runs[l]['database_before']['cases']:,}" for l in labels]))
    rows.append(("database size (MB)", [f"{runs[l]['database_before']['bytes'] / 2**20:,.0f}" for l in labels]))
    rows.append(("web app ready (s)", [cell(runs[l], "ready_s") for l in labels]))
    rows.append(("open loop: achieved msg/s", [f"{cell(runs[l], 'open_loop', 'achieved_rate_msg_s')} of {cell(runs[l], 'open_loop', 'target_rate')}" for l in labels]))
    rows.append(("webhook p50 / p95 / p99 (ms)", [f"{cell(runs[l], 'open_loop', 'p50_ms')} / {cell(runs[l], 'open_loop', 'p95_ms')} / {cell(runs[l], 'open_loop', 'p99_ms')}" for l in labels]))
    rows.append(("webhook errors", [cell(runs[l], "open_loop", "http_errors") for l in labels]))
    rows.append(("reply waited in the outbox p50 / p95 (s)", [f"{cell(runs[l], 'open_loop', 'reply_delivery', 'p50_s')} / {cell(runs[l], 'open_loop', 'reply_delivery', 'p95_s')}" for l in labels]))
    rows.append(("outbox drained after the load (s)", [cell(runs[l], "open_loop", "drain_after_s") for l in labels]))
    rows.append(("status callbacks sent / answered 2xx", [f"{cell(runs[l], 'open_loop', 'callbacks', 'sent')} / {cell(runs[l], 'open_loop', 'callbacks', 'answered_2xx')}" for l in labels]))
    rows.append(("status callback p50 / p95 / p99 (ms)", [f"{cell(runs[l], 'open_loop', 'callbacks', 'bot_answer_ms_p50')} / {cell(runs[l], 'open_loop', 'callbacks', 'bot_answer_ms_p95')} / {cell(runs[l], 'open_loop', 'callbacks', 'bot_answer_ms_p99')}" for l in labels]))
    rows.append(("callbacks lost / duplicated", [f"{cell(runs[l], 'open_loop', 'callbacks', 'lost')} / {cell(runs[l], 'open_loop', 'callbacks', 'duplicated')}" for l in labels]))
    rows.append(("rows checked / not as called back", [f"{cell(runs[l], 'open_loop', 'callbacks', 'rows_called_back')} / {cell(runs[l], 'open_loop', 'callbacks', 'rows_not_as_called_back')}" for l in labels]))
    for page in next(iter(runs.values())).get("console", {}):
        rows.append((f"console {page}: p50 / p95 (ms)", [f"{cell(runs[l], 'console', page, 'p50_ms')} / {cell(runs[l], 'console', page, 'p95_ms')}" for l in labels]))
    width = max(len(name) for name, _v in rows) + 2
    lines = [f"{'':<{width}}" + "".join(f"{l:>34}" for l in labels)]
    lines += [f"{name:<{width}}" + "".join(f"{v:>34}" for v in values) for name, values in rows]
    return "\n".join(lines)


async def run(args: argparse.Namespace, procs: Procs) -> dict[str, Any]:
    from nlu.model_files import current_model_path

    if not current_model_path().exists():
        raise SystemExit("no trained model: run ./dev train first")
    logs = ROOT / "var" / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "rate": args.rate, "seconds": args.seconds,
                           "rounds": args.rounds, "runs": {}}
    fake = procs.start([sys.executable, "-m", "bench.fake_twilio"], base_env(),
                       logs / "fake-twilio-at-size.log", stdout_pipe=True)
    line = fake.stdout.readline().decode().strip() if fake.stdout else ""
    if not line.startswith("PORT "):
        raise RuntimeError(f"fake Twilio did not start: {line!r}")
    twilio_url = f"http://127.0.0.1:{line.split()[1]}"
    nlu = await asyncio.to_thread(start_worker, socket_path=str(logs / "nlu-at-size.sock"), stderr=(logs / "nlu-at-size.log").open("w"))
    try:
        name, empty_url = create_pg_database()
        try:
            out["runs"]["empty database"] = await measure(procs, "empty", empty_url, twilio_url, nlu, logs, args.rate,
                                                          args.seconds, args.rounds, 6)
        finally:
            drop_pg_database(name)
        async with httpx.AsyncClient() as client:
            await client.post(twilio_url + "/__bench/clear")
        out["runs"]["one year"] = await measure(procs, "year", driver_url(args.year_url), twilio_url, nlu, logs, args.rate,
                                                args.seconds, args.rounds, 7)
    finally:
        nlu.stop()
    return out


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--year-url", required=True, help="the database bench.seed_year filled")
    parser.add_argument("--rate", type=float, default=100.0, help="open loop, messages per second (default 100)")
    parser.add_argument("--seconds", type=float, default=60.0, help="open loop length (default 60)")
    parser.add_argument("--rounds", type=int, default=30, help="requests per console page (default 30)")
    parser.add_argument("--out", default=str(ROOT / "reports" / "at_size.json"))
    args = parser.parse_args(argv)
    procs = Procs()
    try:
        out = asyncio.run(run(args, procs))
    finally:
        procs.stop_all()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str) + "\n")
    print()
    print(table(out))
    print(f"\nfigures: {args.out}; server logs: var/bench-logs/")


if __name__ == "__main__":
    main(sys.argv[1:])
