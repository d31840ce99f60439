"""Where a turn's time goes, without HTTP: the benchmark's conversations through
`Core.handle` on a fresh database, split into NLU time and everything else.

    ./dev py -m bench.turn_profile [--db sqlite|postgres] [--conversations 40]
                                   [--statements] [--delivery] [--cprofile]

The load benchmark (bench/load.py) says how fast the whole web app is; this
says which part of a turn to make cheaper. It prints milliseconds per turn
(all, NLU, the rest), SQL statements per turn (`--statements`: by table and
condition), and with --cprofile the functions that cost the most. With
`--delivery` it then sends every queued reply through the real WhatsApp
sender to the fake Twilio (its own process) and prints the same per outbound
message.
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

from sqlalchemy import event  # noqa: E402

from bench.load import ACCOUNT_SID, AUTH_TOKEN, SCRIPTS, WHATSAPP_FROM, create_pg_database, drop_pg_database  # noqa: E402
from bot.app import build_bot  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.knowledge import knowledge_for  # noqa: E402
from bot.messages import Inbound  # noqa: E402
from nlu.classifier import Understanding  # noqa: E402
from nlu.model_files import DEFAULT_MODEL_DIR  # noqa: E402
from nlu.worker_process import choose_classifier  # noqa: E402


class TimedClassifier:
    """The real classifier, with the seconds spent in it added up."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.calls = 0

    def parse(self, text: str) -> Understanding:
        started = time.perf_counter()
        try:
            return self.inner.parse(text)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


def _shape(statement: str) -> str:
    """A statement's verb and table, enough to tell which query runs how often."""
    words = statement.split()
    verb = words[0].upper() if words else "?"
    upper = [w.upper() for w in words]
    for keyword in ("FROM", "INTO", "UPDATE"):
        if keyword in upper[:40] and upper.index(keyword) + 1 < len(words):
            table = words[upper.index(keyword) + 1]
            where = " ".join(words[upper.index("WHERE") + 1:upper.index("WHERE") + 4]) if "WHERE" in upper else ""
            return f"{verb} {table} {where}".strip()[:90]
    return " ".join(words[:4])[:90]


def run(database_url: str, conversations: int, profile: bool, sort_by: str = "cumulative",
        show_statements: bool = False, delivery: bool = False) -> None:
    # the service's way: the NLU worker (DESMIGRAS_NLU_WORKER or one of its own);
    # in the Rasa venv the model in-process, to compare
    classifier = TimedClassifier(choose_classifier(os.environ.get("DESMIGRAS_NLU_WORKER"), DEFAULT_MODEL_DIR))
    fake_twilio = start_fake_twilio() if delivery else None
    twilio = {}
    if fake_twilio is not None:
        twilio = dict(twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN, twilio_whatsapp_from=WHATSAPP_FROM,
                      twilio_api_url=fake_twilio[1], worker_in_web=False, public_url="https://bench.desmigras.test")
    bot = build_bot(Settings(database_url=database_url, **twilio), classifier=classifier)
    statements: Counter[str] = Counter()
    shapes: Counter[str] = Counter()

    @event.listens_for(bot.engine, "before_cursor_execute")
    def _count(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        statements[statement.split(None, 1)[0].upper()] += 1
        shapes[_shape(statement)] += 1

    def report(what: str, count: int) -> None:
        print(f"  SQL statements per {what}: {sum(statements.values()) / count:.1f} "
              + ", ".join(f"{k} {v / count:.1f}" for k, v in statements.most_common()))
        if show_statements:
            print(f"  statements per {what}, by shape:")
            for shape, number in shapes.most_common(30):
                print(f"    {number / count:5.2f}  {shape}")
        statements.clear()
        shapes.clear()

    messages = []
    for number in range(conversations):
        name, script = SCRIPTS[number % len(SCRIPTS)]
        phone = f"+62813{number:07d}"
        messages += [Inbound(channel="whatsapp", sender=phone, text=text, message_id=f"P{number}-{i}")
                     for i, text in enumerate(script)]
    # As a web process is when it serves: the knowledge finder built (bot.web
    # does it at start) and every script's paths run once (lazy content loads).
    knowledge_for(bot.content)
    for number, (_name, script) in enumerate(SCRIPTS):
        for i, text in enumerate(script):
            bot.core.handle(Inbound(channel="whatsapp", sender=f"+62819{number:07d}", text=text, message_id=f"warm{number}-{i}"))
    worker = None
    if fake_twilio is not None:
        from bot.channels import build_senders, check_settings
        from bot.delivery import DeliveryWorker

        worker = DeliveryWorker(bot, build_senders(bot, check_settings(bot.settings)))
        for _pass in range(1000):  # the warm-up's replies
            if not worker.run_once():
                break
    statements.clear()
    shapes.clear()
    classifier.seconds, classifier.calls = 0.0, 0
    profiler = cProfile.Profile() if profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for inbound in messages:
        bot.core.handle(inbound)
    if profiler:
        profiler.disable()
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    turns = len(messages)
    print(f"{database_url.split(':')[0]}: {turns} turns in {total:.2f} s -> {1000 * total / turns:.2f} ms per turn "
          f"({1000 * cpu / turns:.2f} ms CPU in this process)")
    print(f"  NLU: {classifier.calls} calls ({classifier.calls / turns:.0%} of turns), "
          f"{1000 * classifier.seconds / turns:.2f} ms per turn, {1000 * classifier.seconds / max(1, classifier.calls):.2f} ms per call")
    print(f"  everything else: {1000 * (total - classifier.seconds) / turns:.2f} ms per turn")
    report("turn", turns)
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(sort_by).print_stats(45)
        print(out.getvalue())
    if worker is not None and fake_twilio is not None:
        deliver_all(bot, worker, profile, sort_by, report)
        worker.close()
        fake_twilio[0].terminate()
        fake_twilio[0].wait(10)
    bot.engine.dispose()


def deliver_all(bot: Any, worker: Any, profile: bool, sort_by: str, report: Any) -> None:
    """Send every queued reply through the real WhatsApp sender (twilio's
    client) to the fake Twilio in its own process: time per outbound message."""
    from sqlalchemy import func, select

    from bot.storage.models import OutboundMessage

    with bot.sessions() as session:
        due = session.execute(
            select(func.count()).select_from(OutboundMessage).where(OutboundMessage.status == "pending")
        ).scalar_one()
    profiler = cProfile.Profile() if profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    passes = 0
    while worker.run_once() and passes < 10_000:
        passes += 1
    if profiler:
        profiler.disable()
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    sent = worker.totals.sent
    print(f"delivery: {due} outbound messages in {passes} passes, {total:.2f} s -> {1000 * total / max(1, due):.2f} ms per message "
          f"({1000 * cpu / max(1, due):.2f} ms CPU in this process; {sent} sent since start)")
    report("outbound message", max(1, due))
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(sort_by).print_stats(35)
        print(out.getvalue())


def start_fake_twilio() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-m", "bench.fake_twilio"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    atexit.register(process.terminate)  # also when the run fails half-way
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, f"http://127.0.0.1:{line.split()[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--delivery", action="store_true",
                        help="then send every reply through the real WhatsApp sender to a fake Twilio, and measure that")
    parser.add_argument("--statements", action="store_true", help="print how often each statement shape runs")
    parser.add_argument("--sort", default="cumulative", help="pstats order for --cprofile (cumulative, tottime)")
    args = parser.parse_args()
    if args.db == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            run(f"sqlite:///{Path(folder) / 'profile.sqlite3'}", args.conversations, args.cprofile, args.sort, args.statements, args.delivery)
        return
    name, url = create_pg_database()
    try:
        run(url, args.conversations, args.cprofile, args.sort, args.statements, args.delivery)
    finally:
        drop_pg_database(name)


if __name__ == "__main__":
    main()
