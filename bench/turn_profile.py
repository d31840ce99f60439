"""Where a turn's time goes, without HTTP: the benchmark's conversations through
`Core.handle` on a fresh database, split into NLU time and everything else.

    ./dev py -m bench.turn_profile [--db sqlite|postgres] [--conversations 40] [--cprofile]

The load benchmark (bench/load.py) says how fast the whole web app is; this
says which part of a turn to make cheaper. It prints milliseconds per turn
(all, NLU, the rest), SQL statements per turn, and with --cprofile the
functions that cost the most outside TensorFlow.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

from sqlalchemy import event  # noqa: E402

from bench.load import SCRIPTS, create_pg_database, drop_pg_database  # noqa: E402
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
        show_statements: bool = False) -> None:
    # the service's way: the NLU worker (DESMIGRAS_NLU_WORKER or one of its own);
    # in the Rasa venv the model in-process, to compare
    classifier = TimedClassifier(choose_classifier(os.environ.get("DESMIGRAS_NLU_WORKER"), DEFAULT_MODEL_DIR))
    settings = Settings(database_url=database_url)
    bot = build_bot(settings, classifier=classifier)
    statements: Counter[str] = Counter()
    shapes: Counter[str] = Counter()

    @event.listens_for(bot.engine, "before_cursor_execute")
    def _count(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        statements[statement.split(None, 1)[0].upper()] += 1
        shapes[_shape(statement)] += 1

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
    statements.clear()
    shapes.clear()
    classifier.seconds, classifier.calls = 0.0, 0
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    for inbound in messages:
        bot.core.handle(inbound)
    if profiler:
        profiler.disable()
    total = time.perf_counter() - started
    turns = len(messages)
    print(f"{database_url.split(':')[0]}: {turns} turns in {total:.2f} s -> {1000 * total / turns:.2f} ms per turn")
    print(f"  NLU: {classifier.calls} calls ({classifier.calls / turns:.0%} of turns), "
          f"{1000 * classifier.seconds / turns:.2f} ms per turn, {1000 * classifier.seconds / max(1, classifier.calls):.2f} ms per call")
    print(f"  everything else: {1000 * (total - classifier.seconds) / turns:.2f} ms per turn")
    print(f"  SQL statements per turn: {sum(statements.values()) / turns:.1f} "
          + ", ".join(f"{k} {v / turns:.1f}" for k, v in statements.most_common()))
    if show_statements:
        print("  statements per turn, by shape:")
        for shape, count in shapes.most_common(30):
            print(f"    {count / turns:5.2f}  {shape}")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(sort_by).print_stats(45)
        print(out.getvalue())
    bot.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--statements", action="store_true", help="print how often each statement shape runs")
    parser.add_argument("--sort", default="cumulative", help="pstats order for --cprofile (cumulative, tottime)")
    args = parser.parse_args()
    if args.db == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            run(f"sqlite:///{Path(folder) / 'profile.sqlite3'}", args.conversations, args.cprofile, args.sort, args.statements)
        return
    name, url = create_pg_database()
    try:
        run(url, args.conversations, args.cprofile, args.sort, args.statements)
    finally:
        drop_pg_database(name)


if __name__ == "__main__":
    main()
