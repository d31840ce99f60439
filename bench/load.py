"""Load benchmark: the real web app behind the real WhatsApp webhook, against
SQLite and PostgreSQL, compared with Rasa's own NLU HTTP server.

    ./dev py -m bench.load            # full run (~15-20 min)
    ./dev py -m bench.load --quick    # smoke run (~6-8 min, short phases)

See bench/README.md for what is measured and how to read the table. Figures go
to stdout and reports/bench.json. Every phase is bounded by a message count and
a time limit; every process started here is killed at the end, even on error.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

import httpx
from twilio.request_validator import RequestValidator

from nlu.worker_process import RunningWorker, nlu_python, start_worker

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ACCOUNT_SID = "AC" + "0" * 31 + "1"  # the fake Twilio's credentials (tests/fakes/twilio_api.py)
AUTH_TOKEN = "fake_twilio_auth_token_0123456789"
WHATSAPP_FROM = "whatsapp:+14155238886"
WA_PATH = "/webhooks/whatsapp"
PG_ADMIN_URL = os.environ.get("DESMIGRAS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
RATE_LIMIT = os.environ.get("DESMIGRAS_RATE_LIMIT", "20")  # the default; not raised (users rotate instead)

# --- the conversations (one list of texts each; a fresh phone number per conversation) --
FAQ = ["halo", "1", "syarat kerja ke hongkong apa aja", "brp biayanya"]
COMPLAINT = [
    "gaji kakak saya di malaysia belum dibayar 3 bulan", "ya", "2", "saudara", "Siti",
    "tidak tahu", "sudah 3 bulan tidak dibayar", "1", "1", "1",
]
# content/flows/daftar_pelatihan.yml: desa (number), pelatihan (known from "batik"),
# nama, hubungan (number), nomor_hp, persetujuan, then the summary (1 = kirim)
TRAINING = ["mau daftar pelatihan batik", "1", "Siti Aminah", "2", "081234567890", "ya", "1"]
MIXED = ["menu", "2", "gimana cara cek PT resmi", "makasih ya", "batal"]
SCRIPTS = [("faq", FAQ), ("complaint", COMPLAINT), ("training", TRAINING), ("mixed", MIXED)]
ALL_TEXTS = [text for _name, script in SCRIPTS for text in script]

_phones = itertools.count(1)
_sids = itertools.count(1)
_run_tag = f"{os.getpid() % 10000:04d}"


def new_phone(prefix: int) -> str:
    return f"+62812{prefix}{next(_phones):07d}"


def now() -> float:
    return time.perf_counter()


# --- processes ------------------------------------------------------------------------------
class Procs:
    """Every process this run started; all killed (by their own process group) at the end."""

    def __init__(self) -> None:
        self.items: list[subprocess.Popen] = []

    def start(self, args: list[str], env: dict[str, str], log: Path, stdout_pipe: bool = False) -> subprocess.Popen:
        handle = open(log, "ab")
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else handle, stderr=handle, start_new_session=True,
        )
        self.items.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 20.0) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # the group this run created for it
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)
        if proc in self.items:
            self.items.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.items):
            self.stop(proc, timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TELEGRAM_", "DESMIGRAS_", "WHATSAPP_"))}
    env.update(RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="3", SQLALCHEMY_SILENCE_UBER_WARNING="1",
               PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(ROOT))
    return env


def tree(pid: int) -> list[int]:
    """pid and all its descendants (from /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                children = Path(f"/proc/{p}/task/{task}/children").read_text().split()
                todo.extend(int(c) for c in children)
        except OSError:
            pass
    return out


def vm_hwm_mb(pid: int) -> Optional[float]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def memory(pid: int) -> dict[str, Optional[float]]:
    return {str(p): vm_hwm_mb(p) for p in tree(pid)}


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (from /proc)."""
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except (OSError, IndexError, ValueError):
            pass
    return total / TICKS


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores, all processes) so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / TICKS


class CpuMeter:
    """CPU seconds of the server (its whole process tree), this load generator
    and the whole machine (PostgreSQL, the fake Twilio and the rest included)
    over one phase: says where a message's CPU goes on the 2 cores."""

    def __init__(self, roots: list[int], parts: Optional[dict[str, int]] = None) -> None:
        self.roots = roots
        self.parts = parts or {}  # e.g. {"web": pid, "delivery": pid, "nlu": pid}: the server's CPU split by process
        self.start = self._read()

    def _read(self) -> dict[str, float]:
        server = cpu_seconds([p for root in self.roots for p in tree(root)])
        values = {"server": server, "load_generator": sum(os.times()[:2]), "machine": machine_busy_seconds()}
        values.update({f"server_{name}": cpu_seconds(tree(pid)) for name, pid in self.parts.items()})
        return values

    def per_message_ms(self, messages: int, prefix: str = "cpu_ms_per_msg_") -> dict[str, float]:
        end = self._read()
        return {f"{prefix}{k}": round(1000 * (end[k] - self.start[k]) / max(1, messages), 2) for k in end}


async def wait_http(url: str, deadline_s: float, proc: subprocess.Popen, method: str = "GET", body: Any = None) -> float:
    start = now()
    async with httpx.AsyncClient(timeout=5) as client:
        while now() - start < deadline_s:
            if proc.poll() is not None:
                raise RuntimeError(f"process exited with {proc.returncode} before {url} answered (see its log)")
            try:
                response = await client.request(method, url, json=body)
                if response.status_code == 200:
                    return now() - start
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {deadline_s:.0f} s")


# --- measuring ------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return round(ordered[index] * 1000, 1)


@dataclass
class Result:
    name: str
    sent: int = 0
    ok: int = 0
    errors: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self, status: Any, latency: float) -> None:
        self.sent += 1
        if status == 200:
            self.ok += 1
            self.latencies.append(latency)
        else:
            self.errors[str(status)] += 1

    def summary(self) -> dict[str, Any]:
        return {
            "phase": self.name, "messages": self.sent, "ok": self.ok, "http_errors": sum(self.errors.values()),
            "errors_by_status": dict(self.errors), "seconds": round(self.seconds, 2),
            "throughput_msg_s": round(self.ok / self.seconds, 2) if self.seconds else None,
            "p50_ms": pct(self.latencies, 50), "p95_ms": pct(self.latencies, 95), "p99_ms": pct(self.latencies, 99),
            "max_ms": round(max(self.latencies) * 1000, 1) if self.latencies else None,
            **self.extra,
        }


Sender = Callable[[httpx.AsyncClient, Any], Awaitable[int]]


class Conversations:
    """Gives each simulated user the next message of its conversation; a new
    conversation (next script, new phone number) when one ends."""

    def __init__(self, prefix: int, offset: int = 0) -> None:
        self.prefix = prefix
        self.scripts = itertools.cycle(SCRIPTS[offset % len(SCRIPTS):] + SCRIPTS[: offset % len(SCRIPTS)])
        self.phone = ""
        self.queue: list[str] = []

    def next(self) -> tuple[str, str]:
        if not self.queue:
            _name, script = next(self.scripts)
            self.queue = list(script)
            self.phone = new_phone(self.prefix)
        return self.phone, self.queue.pop(0)


class Texts:
    """The same message texts, for the peer (no conversation state there)."""

    def __init__(self, offset: int = 0) -> None:
        self.texts = itertools.cycle(ALL_TEXTS[offset % len(ALL_TEXTS):] + ALL_TEXTS[: offset % len(ALL_TEXTS)])

    def next(self) -> tuple[str, str]:
        return "", next(self.texts)


def signed_form(validator: RequestValidator, signed_url: str, phone: str, text: str) -> tuple[dict[str, str], str]:
    """A WhatsApp message as Twilio posts it (new MessageSid), and its signature."""
    sid = f"SM{_run_tag}{next(_sids):028d}"
    form = {
        "SmsMessageSid": sid, "NumMedia": "0", "ProfileName": "Siti", "MessageType": "text", "SmsSid": sid,
        "WaId": phone.lstrip("+"), "SmsStatus": "received", "Body": text, "To": WHATSAPP_FROM, "NumSegments": "1",
        "ReferralNumMedia": "0", "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": f"whatsapp:{phone}",
        "ApiVersion": "2010-04-01",
    }
    return form, validator.compute_signature(signed_url, form)


def bot_sender(base_url: str, public_url: str) -> Sender:
    validator = RequestValidator(AUTH_TOKEN)
    url, signed_url = base_url + WA_PATH, public_url + WA_PATH

    async def send(client: httpx.AsyncClient, item: tuple[str, str]) -> int:
        form, signature = signed_form(validator, signed_url, *item)
        response = await client.post(url, data=form, headers={"X-Twilio-Signature": signature})
        return response.status_code

    return send


def peer_sender(base_url: str) -> Sender:
    async def send(client: httpx.AsyncClient, item: tuple[str, str]) -> int:
        response = await client.post(base_url + "/model/parse", json={"text": item[1]})
        if response.status_code == 200 and not response.json().get("intent"):
            return -1  # a 200 without an intent is not an answer
        return response.status_code

    return send


async def closed_loop(name: str, send: Sender, sources: list[Any], max_messages: int, max_seconds: float) -> Result:
    """len(sources) users, each sending its next message as soon as the previous one was answered."""
    result = Result(name)
    budget = itertools.count()
    limits = httpx.Limits(max_connections=len(sources) + 5, max_keepalive_connections=len(sources) + 5)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        start = now()

        async def user(source: Any) -> None:
            while next(budget) < max_messages and now() - start < max_seconds:
                await timed_send(send, client, source.next(), result)

        await asyncio.gather(*(user(s) for s in sources))
        result.seconds = now() - start
    result.extra["concurrency"] = len(sources)
    return result


async def timed_send(send: Sender, client: httpx.AsyncClient, item: tuple[str, str], result: Result) -> None:
    """One request, its latency and its outcome (HTTP status or the error's name)."""
    t0 = now()
    try:
        status: Any = await send(client, item)
    except httpx.HTTPError as error:
        status = type(error).__name__
    result.record(status, now() - t0)


async def open_loop(name: str, send: Sender, users: int, prefix: int, rate: float, seconds: float,
                    max_in_flight: int = 2000, grace: float = 30.0) -> Result:
    """A fixed arrival rate whatever the server does: message k leaves at start + k/rate,
    from user k % users (so each user sends every users/rate seconds)."""
    result = Result(name)
    sources = [Conversations(prefix, offset=i) for i in range(users)]
    total = int(rate * seconds)
    in_flight: set[asyncio.Task] = set()
    skipped = 0
    max_lag = 0.0
    peak_in_flight = 0
    limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=400)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        start = now()

        async def one(item: tuple[str, str]) -> None:
            await timed_send(send, client, item, result)

        for k in range(total):
            due = start + k / rate
            delay = due - now()
            if delay > 0:
                await asyncio.sleep(delay)
            max_lag = max(max_lag, now() - due)
            if len(in_flight) >= max_in_flight:
                skipped += 1
                continue
            task = asyncio.create_task(one(sources[k % users].next()))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            peak_in_flight = max(peak_in_flight, len(in_flight))
        schedule_end = now()
        backlog_at_end = len(in_flight)
        completed_in_window = result.sent
        if in_flight:
            await asyncio.wait(list(in_flight), timeout=grace)
        unfinished = len(in_flight)
        for task in list(in_flight):
            task.cancel()
        result.seconds = schedule_end - start
    result.extra.update(
        target_rate=rate, users=users,
        achieved_rate_msg_s=round(completed_in_window / (schedule_end - start), 2),
        backlog_at_end=backlog_at_end, peak_in_flight=peak_in_flight, drain_after_s=round(now() - start - result.seconds, 1),
        unfinished_after_grace=unfinished, skipped_backlog_cap=skipped, max_dispatch_lag_ms=round(max_lag * 1000, 1),
    )
    # the rate the server kept up with: every message answered by the end of the schedule (+1 s)
    result.extra["throughput_msg_s"] = result.extra["achieved_rate_msg_s"]  # answered within the schedule window
    result.extra["keeps_up"] = bool(skipped == 0 and unfinished == 0 and backlog_at_end <= rate and
                                    result.extra["achieved_rate_msg_s"] >= 0.95 * rate)
    return result


# --- the bot server, its database, the outbox accounting ---------------------------------------
def create_pg_database() -> tuple[str, str]:
    import psycopg2

    name = f"desmigras_bench_{_run_tag}_{int(time.time()) % 100000}"
    conn = psycopg2.connect(PG_ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://")
    return name, f"{base}/{name}"


def drop_pg_database(name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(PG_ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        try:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg2.Error:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.close()


@dataclass
class Server:
    label: str
    proc: subprocess.Popen
    url: str
    public_url: str
    database_url: str
    startup_s: float
    delivery: Optional[subprocess.Popen] = None  # `python -m bot.delivery`, when not inside the web process
    nlu: Optional[RunningWorker] = None  # the machine's NLU worker (Python 3.10), shared by the web workers

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid] + ([self.delivery.pid] if self.delivery else []) + ([self.nlu.process.pid] if self.nlu else [])


async def start_server(procs: Procs, label: str, database_url: str, twilio_url: str, workers: int, logs: Path,
                       separate_delivery: bool = False, nlu: Optional[RunningWorker] = None,
                       extra_env: Optional[dict[str, str]] = None) -> Server:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    env = base_env()
    if nlu is not None:
        env["DESMIGRAS_NLU_WORKER"] = nlu.address
    env.update(
        DESMIGRAS_DATABASE_URL=database_url, DESMIGRAS_PUBLIC_URL=public, DESMIGRAS_HOST="127.0.0.1",
        DESMIGRAS_PORT=str(port), DESMIGRAS_WEB_WORKERS=str(workers),
        DESMIGRAS_WORKER_IN_WEB="0" if separate_delivery else "1",
        DESMIGRAS_RATE_LIMIT=RATE_LIMIT, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_WHATSAPP_FROM=WHATSAPP_FROM, TWILIO_API_URL=twilio_url,
    )
    env.update(extra_env or {})
    proc = procs.start([PY, "-m", "bot.web"], env, logs / f"web-{label}.log")
    startup = await wait_http(public + "/health", 600, proc)
    delivery = procs.start([PY, "-m", "bot.delivery"], env, logs / f"delivery-{label}.log") if separate_delivery else None
    if workers > 1:  # /health is answered by the first worker up: wait until every worker logged that it serves
        log, deadline = logs / f"web-{label}.log", now() + 600
        while log.read_text(errors="replace").count("serving whatsapp") < workers and now() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{label} exited (see {log})")
            await asyncio.sleep(1)
    return Server(label, proc, public, public, database_url, startup, delivery, nlu)


def outbox_counts(database_url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT channel, status, count(*) FROM outbound_messages GROUP BY channel, status")).all()
    finally:
        engine.dispose()
    return {f"{c}:{s}": n for c, s, n in rows}


async def drain(database_url: str, limit_s: float) -> float:
    """Wait until no WhatsApp row is pending or being sent (the worker is done)."""
    start = now()
    while now() - start < limit_s:
        counts = await asyncio.to_thread(outbox_counts, database_url)
        if counts.get("whatsapp:pending", 0) + counts.get("whatsapp:sending", 0) == 0:
            return now() - start
        await asyncio.sleep(0.5)
    return -1.0


def accounting(database_url: str, sent: list[dict[str, Any]], http_ok: int) -> dict[str, Any]:
    """Outbox (status sent) vs. what the fake Twilio accepted vs. what was expected."""
    from sqlalchemy import create_engine, text

    from bot.channels.split import WHATSAPP_LIMIT, split_text
    from bot.messages import Option, Outbound

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT id, address, text, options, status, inbound_id, last_error FROM outbound_messages "
                "WHERE channel = 'whatsapp' ORDER BY id")).all()
            inbound = conn.execute(text(
                # a join, not a subquery per message: outbound_messages has no index on inbound_id
                "SELECT i.id, i.error, count(o.id) FROM inbound_messages i "
                "LEFT JOIN outbound_messages o ON o.inbound_id = i.id "
                "WHERE i.channel = 'whatsapp' GROUP BY i.id, i.error")).all()
            other = conn.execute(text(
                "SELECT channel, status, count(*) FROM outbound_messages WHERE channel <> 'whatsapp' GROUP BY channel, status")).all()
    finally:
        engine.dispose()
    expected: Counter = Counter()  # parts of rows the outbox marks sent
    for row in rows:
        if row.status != "sent":
            continue
        options = row.options if isinstance(row.options, list) else json.loads(row.options or "[]")
        opts = tuple(Option(o["value"], o["label"]) for o in options or [])
        for part in split_text(Outbound(row.text, opts).as_plain_text(), WHATSAPP_LIMIT):
            expected[(row.address, part)] += 1
    delivered: Counter = Counter()
    for message in sent:
        if not message["content_sid"]:
            delivered[(message["to"].removeprefix("whatsapp:"), message["body"])] += 1
    statuses = Counter(r.status for r in rows)
    unanswered = sum(1 for _id, error, replies in inbound if replies == 0)
    return {
        "webhook_200": http_ok,
        "inbound_stored": len(inbound),
        "inbound_rate_limited": sum(1 for _id, error, _n in inbound if error == "rate_limited"),
        "inbound_with_error": sum(1 for _id, error, _n in inbound if error),
        "inbound_without_reply": unanswered,
        "outbox_rows": len(rows),
        "outbox_sent": statuses.get("sent", 0),
        "outbox_not_sent": len(rows) - statuses.get("sent", 0),
        "outbox_not_sent_reasons": dict(Counter((r.status, (r.last_error or "")[:60]) for r in rows if r.status != "sent").most_common(5)) if statuses.get("sent", 0) != len(rows) else {},
        "parts_expected": sum(expected.values()),
        "twilio_received": sum(delivered.values()),
        "still_pending": statuses.get("pending", 0) + statuses.get("sending", 0),
        "failed": statuses.get("failed", 0),
        "lost": sum((expected - delivered).values()) + statuses.get("failed", 0) + unanswered,
        "duplicated": sum((delivered - expected).values()),
        "other_channels": {f"{c}:{s}": n for c, s, n in other},  # satgas notifications on the console channel
    }


def transcript(database_url: str, path: Path) -> None:
    """The first four conversations (one per script), inbound and replies in order."""
    from sqlalchemy import create_engine, text

    path.parent.mkdir(parents=True, exist_ok=True)  # a fresh clone has no reports/ when --out points elsewhere
    engine = create_engine(database_url)
    lines = []
    try:
        with engine.connect() as conn:
            ids = [r[0] for r in conn.execute(text(
                "SELECT contact_id FROM inbound_messages WHERE channel='whatsapp' GROUP BY contact_id ORDER BY min(id) LIMIT 4"))]
            for cid in ids:
                lines.append(f"=== contact {cid}")
                events = conn.execute(text(
                    "SELECT 'user' AS who, id, text, 0 AS seq FROM inbound_messages WHERE contact_id=:c UNION ALL "
                    "SELECT 'bot', inbound_id, text, id FROM outbound_messages WHERE contact_id=:c AND channel='whatsapp' "
                    "ORDER BY 2, 4"), {"c": cid}).all()
                for who, _i, body, _s in events:
                    lines.append(f"{who:>4}: " + body.replace("\n", "\n      "))
    finally:
        engine.dispose()
    path.write_text("\n".join(lines) + "\n")


async def twilio_sent(client: httpx.AsyncClient, twilio_url: str) -> list[dict[str, Any]]:
    return (await client.get(twilio_url + "/__bench/sent", timeout=60)).json()


# --- Twilio's status callbacks (issue 29) ------------------------------------------------------
CALLBACK_DRAIN_LIMIT = 120.0  # s after the outbox drained; a read comes up to ~35 s after its send


async def callbacks_switch(twilio_url: str, on: bool) -> None:
    """From now on the fake Twilio calls back for every message it accepts (or stops)."""
    async with httpx.AsyncClient() as client:
        await client.post(twilio_url + ("/__bench/callbacks/on" if on else "/__bench/callbacks/off"))


async def callbacks_settled(twilio_url: str, database_url: str, limit_s: float) -> dict[str, Any]:
    """Wait until every scheduled callback was sent, stop them, and account:
    what the fake sent and how the bot answered, and whether each reply's
    outbox row ended in the status its callbacks said (nothing lost), every
    (SID, status) sent once (nothing duplicated)."""
    start = now()
    async with httpx.AsyncClient(timeout=60) as client:
        while True:
            summary = (await client.get(twilio_url + "/__bench/callbacks")).json()
            if summary["pending"] == 0 or now() - start > limit_s:
                break
            await asyncio.sleep(0.5)
        waited = now() - start
        await client.post(twilio_url + "/__bench/callbacks/off")
        summary = (await client.get(twilio_url + "/__bench/callbacks", params={"fates": "1"})).json()
    fates = summary.pop("fates")
    rows = await asyncio.to_thread(callback_rows, database_url, fates)
    summary.update(rows, waited_s=round(waited, 1))
    summary["lost"] = summary["sent"] - summary["answered_2xx"] + summary["pending"] + rows["rows_not_as_called_back"] + rows["ids_not_found"]
    return summary


def callback_rows(database_url: str, fates: dict[str, str]) -> dict[str, Any]:
    """Each reply's row against the last status its callbacks carried: a
    failure of any part is the row's end; otherwise its furthest status."""
    from sqlalchemy import bindparam, create_engine, text

    from bot.channels.whatsapp import FINAL_FAILURES, STATUS_ORDER

    if not fates:
        return {"rows_called_back": 0, "rows_not_as_called_back": 0, "ids_not_found": 0, "row_statuses": {}}
    engine = create_engine(database_url)
    found: dict[str, tuple[int, Optional[str]]] = {}
    statement = text(
        "SELECT p.provider_id, m.id, m.provider_status FROM outbound_provider_ids p"
        " JOIN outbound_messages m ON m.id = p.outbound_id WHERE p.provider_id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    try:
        with engine.connect() as conn:
            sids = list(fates)
            for start in range(0, len(sids), 5000):
                for sid, row_id, status in conn.execute(statement, {"ids": sids[start:start + 5000]}):
                    found[sid] = (row_id, status)
    finally:
        engine.dispose()
    parts: dict[int, list[str]] = {}
    stored: dict[int, Optional[str]] = {}
    for sid, (row_id, status) in found.items():
        parts.setdefault(row_id, []).append(fates[sid])
        stored[row_id] = status
    wrong = 0
    for row_id, ends in parts.items():
        failures = [end for end in ends if end in FINAL_FAILURES]
        if failures:
            wrong += stored[row_id] not in failures
        else:
            wrong += stored[row_id] != max(ends, key=lambda end: STATUS_ORDER[end])
    return {
        "rows_called_back": len(parts), "rows_not_as_called_back": wrong, "ids_not_found": len(fates) - len(found),
        "row_statuses": dict(Counter(stored.values())),
    }


# --- the run ------------------------------------------------------------------------------------------
@dataclass
class Plan:
    c1: tuple[int, float]
    c20: tuple[int, float]
    open_s: float
    scale: tuple[int, float]
    warmup: int = 40


FULL = Plan(c1=(400, 20.0), c20=(4000, 40.0), open_s=120.0, scale=(3000, 25.0))
QUICK = Plan(c1=(100, 6.0), c20=(600, 10.0), open_s=20.0, scale=(600, 10.0), warmup=20)
OPEN_RATE, OPEN_USERS, C_HIGH = 40.0, 200, 20
DRAIN_LIMIT = 300.0  # s; -1 in the table: the worker had not finished by then


async def bench_server(procs: Procs, plan: Plan, label: str, db: str, database_url: str, workers: int, twilio_url: str,
                       logs: Path, prefix: int, full_set: bool, out: dict[str, Any], separate_delivery: bool = False) -> None:
    where = "a separate delivery process" if separate_delivery else "delivery inside the web process"
    # As on a server (docs/deployment.md, section 11): one NLU worker for the
    # machine, started first; the web processes only connect to it.
    print(f"[{time.strftime('%H:%M:%S')}] {label}: starting the NLU worker...", flush=True)
    t0 = now()
    nlu = await asyncio.to_thread(start_worker, socket_path=str(logs / f"nlu-{label.replace(' ', '_')}.sock"),
                                  stderr=(logs / f"nlu-{label.replace(' ', '_')}.log").open("w"))
    nlu_ready = now() - t0
    print(f"[{time.strftime('%H:%M:%S')}] {label}: starting web app ({workers} worker(s), {where})...", flush=True)
    t0 = now()
    try:
        server = await start_server(procs, label, database_url, twilio_url, workers, logs, separate_delivery, nlu)
    except BaseException:
        nlu.stop()
        raise
    ready = now() - t0
    entry: dict[str, Any] = {"database": db, "workers": workers, "delivery": where, "ready_s": round(ready, 1),
                             "nlu_worker_ready_s": round(nlu_ready, 1), "phases": {}}
    out["servers"][label] = entry
    try:
        send = bot_sender(server.url, server.public_url)
        await closed_loop("warmup", send, [Conversations(prefix, i) for i in range(4)], plan.warmup, 60)
        phases = []
        if full_set:
            phases.append(("closed C=1", lambda: closed_loop("closed C=1", send, [Conversations(prefix, 0)], *plan.c1)))
        phases.append((f"closed C={C_HIGH}", lambda: closed_loop(
            f"closed C={C_HIGH}", send, [Conversations(prefix, i) for i in range(C_HIGH)], *(plan.c20 if full_set else plan.scale))))
        if full_set:
            phases.append(("open 40/s", lambda: open_loop("open 40/s", send, OPEN_USERS, prefix, OPEN_RATE, plan.open_s)))
        http_ok = plan.warmup
        cpu0 = sum(os.times()[:2])
        for name, run in phases:
            print(f"[{time.strftime('%H:%M:%S')}] {label}: {name}...", flush=True)
            parts = {"web": server.proc.pid}
            if server.delivery is not None:
                parts["delivery"] = server.delivery.pid
            if server.nlu is not None:
                parts["nlu"] = server.nlu.process.pid
            sent_before = (await asyncio.to_thread(outbox_counts, database_url)).get("whatsapp:sent", 0)
            with_callbacks = name.startswith("open")  # issue 29: Twilio's status callbacks for every reply
            if with_callbacks:
                await callbacks_switch(twilio_url, True)
            meter = CpuMeter(server.pids, parts)
            result = await run()
            result.extra.update(meter.per_message_ms(result.ok))
            # Issue 14, goal 1: a message costs its turn *and* the delivery of its
            # replies, so the phase also counts until the outbox has drained.
            result.extra["drain_after_s"] = round(await drain(database_url, DRAIN_LIMIT), 1)
            if with_callbacks:
                # The last replies' read callbacks come some 30 s after their send.
                result.extra["callbacks"] = await callbacks_settled(twilio_url, database_url, CALLBACK_DRAIN_LIMIT)
            result.extra.update(meter.per_message_ms(result.ok, "cpu_ms_per_delivered_msg_"))
            outbound = (await asyncio.to_thread(outbox_counts, database_url)).get("whatsapp:sent", 0) - sent_before
            result.extra["outbound_per_inbound"] = round(outbound / max(1, result.ok), 2)
            entry["phases"][name] = result.summary()
            http_ok += result.ok
            print(f"    {json.dumps(result.summary())}", flush=True)
        entry["load_generator_cpu_s"] = round(sum(os.times()[:2]) - cpu0, 1)
        entry["drain_s"] = round(await drain(database_url, DRAIN_LIMIT), 1)
        entry["peak_rss_mb"] = memory(server.proc.pid)
        if server.delivery is not None:
            entry["peak_rss_mb_delivery"] = vm_hwm_mb(server.delivery.pid)
        entry["peak_rss_mb_nlu_worker"] = vm_hwm_mb(nlu.process.pid)
        entry["peak_rss_note"] = "VmHWM per process: first pid is `python -m bot.web` (with >1 worker: the uvicorn supervisor; the rest are workers)"
        async with httpx.AsyncClient() as client:
            sent = await twilio_sent(client, twilio_url)
            await client.post(twilio_url + "/__bench/clear")
        entry["accounting"] = await asyncio.to_thread(accounting, database_url, sent, http_ok)
        if label.startswith("sqlite") or not (ROOT / "reports" / "bench_transcript.txt").exists():
            await asyncio.to_thread(transcript, database_url, ROOT / "reports" / "bench_transcript.txt")
        print(f"    accounting {json.dumps(entry['accounting'])}", flush=True)
        print(f"    peak RSS MB {entry['peak_rss_mb']}", flush=True)
    finally:
        procs.stop(server.proc, timeout=40)
        if server.delivery is not None:
            procs.stop(server.delivery, timeout=40)
        nlu.stop()


async def bench_peer(procs: Procs, plan: Plan, model: Path, logs: Path, out: dict[str, Any]) -> None:
    port = free_port()
    env = base_env()
    print(f"[{time.strftime('%H:%M:%S')}] peer: starting `rasa run --enable-api` with {model.name}...", flush=True)
    proc = procs.start([nlu_python(), "-m", "rasa", "run", "--enable-api", "-m", str(model), "-i", "127.0.0.1", "--port", str(port)],
                       env, logs / "rasa-peer.log")
    try:
        url = f"http://127.0.0.1:{port}"
        t0 = now()
        await wait_http(url + "/model/parse", 600, proc, "POST", {"text": "halo"})
        entry: dict[str, Any] = {"ready_s": round(now() - t0, 1), "phases": {}}
        out["peer"] = entry
        send = peer_sender(url)
        await closed_loop("warmup", send, [Texts(i) for i in range(4)], plan.warmup, 60)
        for name, sources, limits in (("closed C=1", [Texts(0)], plan.c1),
                                      (f"closed C={C_HIGH}", [Texts(i) for i in range(C_HIGH)], plan.c20)):
            print(f"[{time.strftime('%H:%M:%S')}] peer: {name}...", flush=True)
            meter = CpuMeter([proc.pid])
            result = await closed_loop(name, send, sources, *limits)
            result.extra.update(meter.per_message_ms(result.ok))
            entry["phases"][name] = result.summary()
            print(f"    {json.dumps(result.summary())}", flush=True)
        entry["peak_rss_mb"] = memory(proc.pid)
    finally:
        procs.stop(proc, timeout=20)


def table(out: dict[str, Any]) -> str:
    lines = []
    head = f"{'run':<26}{'phase':<14}{'msgs':>6}{'err':>5}{'msg/s':>8}{'p50ms':>8}{'p95ms':>8}{'p99ms':>8}{'ratio tput':>11}{'ratio p95':>10}"
    lines += [head, "-" * len(head)]
    peer = out.get("peer", {}).get("phases", {})
    rows = [("rasa peer (/model/parse)", peer)] + [
        (f"{label}", s["phases"]) for label, s in out["servers"].items()]
    for label, phases in rows:
        for name, p in phases.items():
            ratio_t = ratio_p = ""
            if label.startswith("rasa") is False and name in peer and p.get("throughput_msg_s") and peer[name].get("throughput_msg_s"):
                ratio_t = f"{p['throughput_msg_s'] / peer[name]['throughput_msg_s']:.2f}x"
                ratio_p = f"{p['p95_ms'] / peer[name]['p95_ms']:.2f}x" if p.get("p95_ms") and peer[name].get("p95_ms") else ""
            lines.append(f"{label:<26}{name:<14}{p['messages']:>6}{p['http_errors']:>5}{p['throughput_msg_s'] or 0:>8.1f}"
                         f"{p['p50_ms'] or 0:>8.1f}{p['p95_ms'] or 0:>8.1f}{p['p99_ms'] or 0:>8.1f}{ratio_t:>11}{ratio_p:>10}")
            if name.startswith("open"):
                lines.append(f"{'':<26}{'':<14}achieved {p['achieved_rate_msg_s']} msg/s of {p['target_rate']}, backlog at end "
                             f"{p['backlog_at_end']}, peak in flight {p['peak_in_flight']}, keeps up: {p['keeps_up']}")
                c = p.get("callbacks")
                if c:
                    lines.append(f"{'':<26}{'':<14}status callbacks: {c['sent']} sent {c['by_status']}, answered 2xx "
                                 f"{c['answered_2xx']}, bot p50/p95 {c['bot_answer_ms_p50']}/{c['bot_answer_ms_p95']} ms; "
                                 f"{c['rows_called_back']} rows, not as called back {c['rows_not_as_called_back']}, "
                                 f"ids not found {c['ids_not_found']}; lost {c['lost']}, duplicated {c['duplicated']}")
    lines.append("")
    lines.append(f"{'run':<26}{'ready s':>8}{'drain s':>8}{'200s':>7}{'stored':>7}{'rows':>6}{'sent':>6}{'twilio':>7}"
                 f"{'lost':>5}{'dup':>5}{'pend':>5}{'ratelim':>8}  peak RSS MB per process (VmHWM)")
    for label, s in out["servers"].items():
        a = s.get("accounting", {})
        lines.append(f"{label:<26}{s.get('ready_s', 0):>8}{s.get('drain_s', 0):>8}{a.get('webhook_200', 0):>7}"
                     f"{a.get('inbound_stored', 0):>7}{a.get('outbox_rows', 0):>6}{a.get('outbox_sent', 0):>6}"
                     f"{a.get('twilio_received', 0):>7}{a.get('lost', 0):>5}{a.get('duplicated', 0):>5}{a.get('still_pending', 0):>5}"
                     f"{a.get('inbound_rate_limited', 0):>8}  {list(s.get('peak_rss_mb', {}).values())}"
                     f" + NLU worker {s.get('peak_rss_mb_nlu_worker')} (ready in {s.get('nlu_worker_ready_s')} s)")
    if "peer" in out:
        lines.append(f"{'rasa peer':<26}{out['peer'].get('ready_s', 0):>8}{'':>8}{'':>7}{'':>7}{'':>6}{'':>6}{'':>7}{'':>5}{'':>5}{'':>5}{'':>8}  "
                     f"{list(out['peer'].get('peak_rss_mb', {}).values())}")
    lines.append("")
    lines.append(f"{'CPU ms per answered message':<40}{'server':>8}{'load gen':>9}{'machine':>9}")
    for label, phases in rows:
        for name, p in phases.items():
            if "cpu_ms_per_msg_server" in p:
                lines.append(f"{label + ', ' + name:<40}{p['cpu_ms_per_msg_server']:>8}{p['cpu_ms_per_msg_load_generator']:>9}"
                             f"{p['cpu_ms_per_msg_machine']:>9}")
            if "cpu_ms_per_delivered_msg_server" in p:
                split = ", ".join(f"{k.rsplit('_', 1)[1]} {v}" for k, v in p.items() if k.startswith("cpu_ms_per_delivered_msg_server_"))
                lines.append(f"{'  ... until every reply was delivered':<40}{p['cpu_ms_per_delivered_msg_server']:>8}"
                             f"{p['cpu_ms_per_delivered_msg_load_generator']:>9}{p['cpu_ms_per_delivered_msg_machine']:>9}"
                             f"   ({split}; {p.get('outbound_per_inbound')} replies per message, drained {p.get('drain_after_s')} s after)")
    lines.append("")
    for t in out.get("targets", []):
        lines.append(f"target {t['target']}: {t['value']} -> {'MET' if t['met'] else 'MISSED'}")
    return "\n".join(lines)


def targets(out: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    peer = out.get("peer", {}).get("phases", {}).get(f"closed C={C_HIGH}", {})
    for label, s in out["servers"].items():
        p = s["phases"].get(f"closed C={C_HIGH}")
        if p and peer.get("throughput_msg_s"):
            r = p["throughput_msg_s"] / peer["throughput_msg_s"]
            found.append({"target": f"{label} closed C=20 throughput >= 0.8x peer ({s['workers']} web worker(s))",
                          "value": f"{r:.2f}x", "met": r >= 0.8})
        o = s["phases"].get("open 40/s")
        if o:
            found.append({"target": f"{label} open-loop p95 <= 150 ms at 40 msg/s", "value": f"{o['p95_ms']} ms",
                          "met": bool(o["p95_ms"] is not None and o["p95_ms"] <= 150 and o["keeps_up"])})
        c = (o or {}).get("callbacks")
        if c:
            found.append({"target": f"{label} status callbacks: every one answered and in its row, none twice",
                          "value": f"{c['sent']} sent, {c['answered_2xx']} answered 2xx (p95 {c['bot_answer_ms_p95']} ms), "
                                   f"{c['rows_called_back']} rows checked, lost {c['lost']}, duplicated {c['duplicated']}",
                          "met": c["lost"] == 0 and c["duplicated"] == 0})
        a = s.get("accounting", {})
        found.append({"target": f"{label} 0 lost, 0 duplicated, 0 HTTP errors",
                      "value": f"lost {a.get('lost')}, dup {a.get('duplicated')}, still pending {a.get('still_pending')}, errors {sum(ph['http_errors'] for ph in s['phases'].values())}",
                      "met": a.get("lost") == 0 and a.get("duplicated") == 0 and a.get("still_pending") == 0 and all(ph["http_errors"] == 0 for ph in s["phases"].values())})
    return found


async def run(args: argparse.Namespace, procs: Procs) -> dict[str, Any]:
    from nlu.model_files import current_model_path

    plan = QUICK if args.quick else FULL
    model = current_model_path()
    if not model.exists():
        raise SystemExit(f"no trained model at {model}: run ./dev train first")
    workdir = Path(tempfile.mkdtemp(prefix="desmigras-bench-"))
    logs = ROOT / "var" / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    out: dict[str, Any] = {
        "mode": "quick" if args.quick else "full", "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "model": model.name,
        "settings": {"DESMIGRAS_RATE_LIMIT": RATE_LIMIT, "rate_limit_note": "default, not raised: every conversation uses a new phone number",
                     "plan": plan.__dict__, "open_loop": {"rate": OPEN_RATE, "users": OPEN_USERS}},
        "servers": {},
    }
    fake = procs.start([PY, "-m", "bench.fake_twilio"], base_env(), logs / "fake-twilio.log", stdout_pipe=True)
    line = fake.stdout.readline().decode().strip() if fake.stdout else ""
    if not line.startswith("PORT "):
        raise RuntimeError(f"fake Twilio did not start: {line!r}")
    twilio_url = f"http://127.0.0.1:{line.split()[1]}"

    if "peer" in args.only:
        await bench_peer(procs, plan, model, logs, out)
    if "sqlite" in args.only:
        await bench_server(procs, plan, "sqlite w=1", "sqlite", f"sqlite:///{workdir / 'bench.sqlite3'}", 1, twilio_url,
                           logs, 1, True, out)
    for key, workers, separate in (("pg1", 1, False), ("pg1d", 1, True), ("pg2", 2, False), ("pg2d", 2, True), ("pg4", 4, False)):
        if key not in args.only:
            continue
        name, url = create_pg_database()
        label = f"postgres w={workers}" + (" +delivery" if separate else "")
        try:
            await bench_server(procs, plan, label, "postgresql", url, workers, twilio_url, logs,
                               1 + workers + (4 if separate else 0), workers == 1 or separate, out, separate)
        finally:
            drop_pg_database(name)
    out["targets"] = targets(out)
    shutil.rmtree(workdir, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short phases (smoke run)")
    parser.add_argument("--only", default="peer,sqlite,pg1,pg1d,pg2,pg2d,pg4",
                        help="comma list of peer, sqlite, pg1, pg2, pg4 (web workers, delivery inside them), "
                             "pg1d, pg2d (the same plus a separate `python -m bot.delivery` process)")
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench.json"))
    args = parser.parse_args()
    args.only = set(args.only.split(","))
    procs = Procs()
    started = now()
    try:
        out = asyncio.run(run(args, procs))
    finally:
        procs.stop_all()
    out["total_s"] = round(now() - started, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str) + "\n")
    print()
    print(table(out))
    print(f"\nfigures: {args.out}; server logs: var/bench-logs/; total {out['total_s']} s")


if __name__ == "__main__":
    main()
