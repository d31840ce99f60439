"""Does the BOT (not just the model) show the emergency text, in every state?

Usage: ./dev py -m nlu.safety_report nlu/heldout/v2_*.yml

Every held-out message is sent by a new person in four states: as the first
message, at a choice question (who is reporting?), at a free-text question
(the worker's name) and at a yes/no question (consent). Emergencies (intent
darurat) must get the emergency text (recall); other messages must not (false
alarms). The whole bot runs: danger patterns, danger cues, NLU, forms, on a
throw-away SQLite database.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import Counter
from pathlib import Path

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

from bot.app import build_bot  # noqa: E402
from bot.config import PROJECT_ROOT, Settings  # noqa: E402
from bot.messages import Inbound  # noqa: E402
from bot.storage.models import Event  # noqa: E402
from nlu.evaluate import load_examples  # noqa: E402

# How a person reaches each state before typing the message.
STATES: dict[str, tuple[str, ...]] = {
    "pesan_pertama": (),
    "pilihan": ("lapor masalah", "ya"),
    "isian_bebas": ("lapor masalah", "ya", "1"),
    "ya_tidak": ("lapor masalah",),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--show-misses", action="store_true", help="print the messages the bot got wrong")
    args = parser.parse_args()
    examples = [example for path in args.files for example in load_examples(path)]
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(
            database_url=f"sqlite:///{Path(scratch) / 'safety.sqlite3'}",
            content_dir=PROJECT_ROOT / "content",
            model_dir=PROJECT_ROOT / "models",
        )
        bot = build_bot(settings)
        counts: Counter[tuple[str, str]] = Counter()
        misses: list[str] = []
        sender = 0
        for text, intent in examples:
            for state, route in STATES.items():
                sender += 1
                address = f"62899{sender:07d}"
                for step, typed in enumerate(route):
                    bot.core.handle(Inbound(channel="console", sender=address, text=typed, message_id=f"s{sender}-{step}"))
                before = _emergencies(bot)
                bot.core.handle(Inbound(channel="console", sender=address, text=text, message_id=f"s{sender}-x"))
                shown = _emergencies(bot) > before
                danger = intent == "darurat"
                counts[(state, "tp" if danger and shown else "fn" if danger else "fp" if shown else "tn")] += 1
                if shown != danger:
                    misses.append(f"{state:14} {'MISSED' if danger else 'FALSE ALARM'}: {text}")
        bot.engine.dispose()
    print(f"{len(examples)} messages x {len(STATES)} states")
    print(f"{'state':14} {'recall':>12} {'false alarms':>14}")
    for state in STATES:
        tp, fn, fp, tn = (counts[(state, k)] for k in ("tp", "fn", "fp", "tn"))
        print(f"{state:14} {tp:>5}/{tp + fn:<5} {tp / max(tp + fn, 1):.3f} {fp:>5}/{fp + tn:<5}")
    if args.show_misses:
        print("\n".join(misses))


def _emergencies(bot) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    with bot.sessions() as session:
        return int(session.execute(select(func.count()).select_from(Event).where(Event.kind == "emergency_shown")).scalar() or 0)


if __name__ == "__main__":
    main()
