"""Does the bot answer what was asked? The blind sets, played against the whole bot.

Usage: ./dev eval-blind [--questions FILE ...] [--conversations FILE ...] [--show-misses]
       (default: the open part, nlu/blind/*_open.yml)

The sets in `nlu/blind/` were written by someone who never saw `content/`,
`nlu/data/`, `flows/` or the readers, from `shared/reference/personas.md` and
`facts.md` only (issue 23). Their labels say what a correct reply must do or
contain, never the bot's wording, so this module judges replies by what the
bot did (the events a turn records: an entry answered, "Maksud Anda", a form
started, the emergency text) and by the facts the label names.

Questions: each first message is sent by a new person.
- `answer`: correct when the turn answered (no form, no "Maksud Anda", no
  "belum paham") and the replies contain one word of every `mentions` group.
- `emergency`: the emergency text was shown.
- `report`: a report form started, or the answer offered a report.
Emergency recall counts over `emergency` items; false alarms over all others.

Conversations: the person's literal messages (`say`) and `answer: N` turns,
where this harness answers the form's next N questions from the person's
`facts`, in the person's words, whatever order the bot asks in. Each turn's
`expect` outcomes and the `end` checks must hold for the conversation to pass.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

import yaml  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bot.app import Bot, build_bot  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.config import PROJECT_ROOT, Settings  # noqa: E402
from bot.messages import Inbound, Outbound  # noqa: E402
from bot.storage.complaint_models import Case  # noqa: E402
from bot.storage.models import Contact, Conversation, Event  # noqa: E402
from bot.storage.training_models import TrainingRegistration  # noqa: E402

BLIND_DIR = PROJECT_ROOT / "nlu" / "blind"
# The blind sets were written when the shipped example trainings (content/trainings.yml)
# were all ahead; played on the real calendar, a figure would change on the day the
# first one starts. The harness plays them on a fixed day before them.
EVAL_DAY = datetime(2026, 11, 23, 3, 0)
CONFIRM = "_konfirmasi"  # the form's summary step (flows.forms.CONFIRM_STEP; nlu may not import flows)
REPORTS = PROJECT_ROOT / "reports"
HOTLINE_MARKS = ("0800", "29244800", "1500630")
CLARIFY_EVENTS = {"kb_did_you_mean", "clarification"}
OUTCOMES = {
    "answer", "emergency", "not_emergency", "form_started", "no_form", "cancelled", "back_to_step", "human",
    "delete_data", "stop_messages", "hotline", "not_listed", "more_detail", "source", "report_offered",
}


# --- one turn, as the harness sees it ---------------------------------------------------
@dataclass
class Seen:
    """What one message did: the replies' plain text, the events the turn
    recorded, and where the conversation stood before and after."""

    text: str
    replies: str
    events: list[tuple[str, dict[str, Any]]]
    before: tuple[Optional[str], Optional[str]]
    after: tuple[Optional[str], Optional[str]]
    options: list[str] = field(default_factory=list)

    def has(self, kind: str, **data: Any) -> bool:
        return any(k == kind and all(d.get(key) == value for key, value in data.items()) for k, d in self.events)

    @property
    def kinds(self) -> set[str]:
        return {kind for kind, _ in self.events}


def mentions_ok(replies: str, mentions: Any) -> bool:
    lowered = replies.casefold()
    return all(any(str(word).casefold() in lowered for word in group) for group in (mentions or []))


ANSWER_EVENTS = ("answered", "hotlines_shown", "trainings_listed", "country_note_shown")


def answered(seen: Seen) -> bool:
    """The turn answered: a knowledge entry or topic, the hotlines, the trainings
    or a country note, and no form, no "Maksud Anda", no emergency text."""
    return (
        any(seen.has(kind) for kind in ANSWER_EVENTS)
        and not seen.kinds & CLARIFY_EVENTS
        and not seen.has("flow_started")
        and not seen.has("emergency_shown")
    )


def report_offered(seen: Seen) -> bool:
    return seen.has("report_offered") or "lapor_masalah" in seen.options or "lapor_darurat" in seen.options


def outcome_holds(outcome: str, seen: Seen, turn: dict[str, Any]) -> bool:
    """One `expect` word of the blind set's closed vocabulary, judged on what the bot did."""
    lowered = seen.replies.casefold()
    started = {d.get("flow") for k, d in seen.events if k == "flow_started"}
    if outcome == "answer":
        return (answered(seen) or seen.has("kb_detail_shown")) and mentions_ok(
            seen.replies, turn.get("mentions")
        )
    if outcome == "emergency":
        return seen.has("emergency_shown") or seen.has("emergency_in_form")
    if outcome == "not_emergency":
        return not (seen.has("emergency_shown") or seen.has("emergency_in_form"))
    if outcome == "form_started":
        return bool(started) or (seen.after[0] is not None and seen.before[0] is None)
    if outcome == "no_form":
        return not started
    if outcome == "cancelled":
        return seen.has("flow_cancelled") or (seen.before[0] is not None and seen.after[0] is None and not seen.has("flow_completed"))
    if outcome == "back_to_step":
        # The form goes on: the same question asked again (after a question was
        # answered), or the corrected question asked again ("eh negaranya salah").
        if seen.before[0] is None or seen.after[0] != seen.before[0]:
            return False
        return seen.after == seen.before or seen.has("form_back")
    if outcome == "human":
        return "minta_petugas" in started or seen.has("human_requested") or any(w in lowered for w in ("petugas", "satgas"))
    if outcome == "delete_data":
        return "hapus_data" in started or seen.has("data_deleted")
    if outcome == "stop_messages":
        return seen.has("subscription")
    if outcome == "hotline":
        return any(mark in seen.replies for mark in HOTLINE_MARKS)
    if outcome == "not_listed":
        return seen.has("village_not_listed") or (
            ("koordinator" in lowered or any(mark in seen.replies for mark in HOTLINE_MARKS))
            and not seen.has("answer_missed")
        )
    if outcome == "more_detail":
        return seen.has("kb_detail_shown")
    if outcome == "source":
        return seen.has("kb_source_shown")
    if outcome == "report_offered":
        return report_offered(seen)
    raise ValueError(f"unknown outcome {outcome!r}")


# --- the harness ----------------------------------------------------------------------------
class Harness:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.senders = 0
        self.messages = 0  # every message its own id: a repeated id is a provider retry, dropped as a duplicate

    def new_person(self) -> str:
        self.senders += 1
        return f"62877{self.senders:07d}"

    def where(self, address: str) -> tuple[Optional[str], Optional[str]]:
        with self.bot.sessions() as session:
            row = session.execute(
                select(Conversation.flow, Conversation.step)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(Contact.address == address, Contact.channel == "console")
            ).first()
            return (row[0], row[1]) if row else (None, None)

    def last_event_id(self) -> int:
        with self.bot.sessions() as session:
            return int(session.execute(select(Event.id).order_by(Event.id.desc()).limit(1)).scalar() or 0)

    def send(self, address: str, text: str) -> Seen:
        before = self.where(address)
        mark = self.last_event_id()
        self.messages += 1
        replies: list[Outbound] = self.bot.core.handle(
            Inbound(channel="console", sender=address, text=text, message_id=f"blind-{address}-{self.messages}")
        )
        with self.bot.sessions() as session:
            contact_id = session.execute(
                select(Contact.id).where(Contact.address == address, Contact.channel == "console")
            ).scalar()
            rows = session.execute(
                select(Event.kind, Event.data).where(Event.id > mark, Event.contact_id == contact_id).order_by(Event.id)
            ).all()
        return Seen(
            text=text,
            replies="\n---\n".join(reply.as_plain_text() for reply in replies),
            events=[(kind, data or {}) for kind, data in rows],
            before=before,
            after=self.where(address),
            options=[option.value for reply in replies for option in reply.options],
        )

    def case_of(self, address: str) -> Optional[Case]:
        with self.bot.sessions() as session:
            contact_id = session.execute(select(Contact.id).where(Contact.address == address)).scalar()
            case = session.execute(
                select(Case).where(Case.reporter_id == contact_id).order_by(Case.id.desc())
            ).scalars().first()
            if case is not None:
                session.expunge(case)
            return case

    def registered(self, address: str) -> bool:
        with self.bot.sessions() as session:
            contact_id = session.execute(select(Contact.id).where(Contact.address == address)).scalar()
            return session.execute(
                select(TrainingRegistration.id).where(TrainingRegistration.contact_id == contact_id)
            ).first() is not None


# --- answering a form from the person's facts -------------------------------------------
SLOT_FACTS: dict[str, tuple[str, ...]] = {
    "persetujuan": ("consent",),
    "pelapor": ("who",),
    "hubungan": ("who",),
    "nama_pekerja": ("worker_name",),
    "negara": ("country",),
    "majikan": ("agency", "employer"),
    "jenis_masalah": ("problem",),
    "lama_hilang": ("since",),
    "cerita": ("problem", "story"),
    "cara_kontak": ("contact_way",),
    "nomor_hp": ("phone",),
    "desa": ("village",),
    "pelatihan": ("training",),
    "nama": ("name", "worker_name"),
}
DEFAULTS = {
    "persetujuan": "iya boleh",
    "pelapor": "saya sendiri",
    "hubungan": "saya sendiri",
    "cara_kontak": "lewat wa ini aja",
    "nomor_hp": "081234567890",
    "desa": "1",
    "pelatihan": "1",
    "_konfirmasi": "ya",
}


# A training asks who the participant is (purna, family, prospective): the persona says.
PERSONA_PARTICIPANT = {"purna": "purna pmi", "keluarga": "keluarga pmi", "calon": "calon pmi", "pmi": "purna pmi"}


def facts_answer(
    step: Optional[str], facts: dict[str, Any], flow: Optional[str] = None, persona: str = "", address: str = ""
) -> str:
    """The person's own words for the question the bot is asking now."""
    if flow == "daftar_pelatihan" and step == "hubungan":
        return PERSONA_PARTICIPANT.get(persona, "calon pmi")
    for key in SLOT_FACTS.get(step or "", ()):
        value = facts.get(key)
        if value not in (None, ""):
            return str(value)
    if step == "nomor_hp" and address:
        # Each person their own number: one number registers once per training.
        return "0" + address[2:]
    return DEFAULTS.get(step or "", "ga tau")


@dataclass
class ConversationResult:
    id: str
    passed: bool
    failures: list[str]
    transcript: list[str]


def play_conversation(harness: Harness, item: dict[str, Any]) -> ConversationResult:
    address = harness.new_person()
    facts = item.get("facts") or {}
    failures: list[str] = []
    transcript: list[str] = []
    for index, turn in enumerate(item.get("turns") or []):
        if "answer" in turn and "say" not in turn:
            # The person answers the form's questions from their facts: N of
            # them, all (saying yes at the summary) or until the summary.
            count = turn["answer"]
            limit = 15 if count in ("all", "until_confirm") else int(count)
            seen_here: list[Seen] = []
            for _ in range(limit):
                flow, step = harness.where(address)
                if flow is None or (count == "until_confirm" and step == CONFIRM):
                    break
                seen = harness.send(address, facts_answer(step, facts, flow, str(item.get("persona") or ""), address))
                seen_here.append(seen)
                transcript.append(f"Anda> {seen.text}\nBot> {seen.replies}")
            for outcome in turn.get("expect") or []:
                # an outcome on an answering turn holds when any of its messages shows it
                if not any(outcome_holds(outcome, seen, turn) for seen in seen_here):
                    failures.append(f"turn {index + 1} (answering): expected {outcome}")
            continue
        seen = harness.send(address, str(turn.get("say", "")))
        transcript.append(f"Anda> {seen.text}\nBot> {seen.replies}")
        for outcome in turn.get("expect") or []:
            if not outcome_holds(outcome, seen, turn):
                failures.append(f"turn {index + 1} ({seen.text!r}): expected {outcome}")
    end = item.get("end") or {}
    if "report_recorded" in end:
        recorded = harness.case_of(address) is not None
        if recorded != bool(end["report_recorded"]):
            failures.append(f"end: report_recorded should be {end['report_recorded']}")
    if "registered" in end and harness.registered(address) != bool(end["registered"]):
        failures.append(f"end: registered should be {end['registered']}")
    if end.get("worker_name_is_not"):
        case = harness.case_of(address)
        if case is not None and (case.worker_name or "").casefold() == str(end["worker_name_is_not"]).casefold():
            failures.append("end: a question was stored as the worker's name")
    return ConversationResult(str(item.get("id")), not failures, failures, transcript)


# --- single questions ---------------------------------------------------------------------
def judge_question(harness: Harness, item: dict[str, Any]) -> dict[str, Any]:
    seen = harness.send(harness.new_person(), str(item["text"]))
    emergency = seen.has("emergency_shown")
    form = seen.has("flow_started")
    clarify = bool(seen.kinds & CLARIFY_EVENTS)
    direct = answered(seen)
    expect = item.get("expect")
    if expect == "answer":
        correct = direct and mentions_ok(seen.replies, item.get("mentions"))
    elif expect == "emergency":
        correct = emergency
    else:  # report
        correct = not emergency and (form or report_offered(seen))
    return {
        "id": item.get("id"), "lang": item.get("lang"), "expect": expect, "text": item["text"],
        "correct": correct, "direct": direct, "clarify": clarify, "form": form, "emergency": emergency,
        "reply": seen.replies[:600],
    }


def summarise_questions(results: list[dict[str, Any]]) -> dict[str, Any]:
    questions = [r for r in results if r["expect"] == "answer"]
    emergencies = [r for r in results if r["expect"] == "emergency"]
    others = [r for r in results if r["expect"] != "emergency"]
    reports = [r for r in results if r["expect"] == "report"]

    def share(rows: list[dict[str, Any]], key: str) -> float:
        return round(sum(1 for r in rows if r[key]) / len(rows), 3) if rows else 0.0

    by_lang: dict[str, dict[str, Any]] = {}
    for lang in sorted({r["lang"] for r in questions}):
        rows = [r for r in questions if r["lang"] == lang]
        by_lang[lang] = {"n": len(rows), "direct_correct": share(rows, "correct")}
    return {
        "questions": len(questions),
        "direct_correct": share(questions, "correct"),
        "direct_any": share(questions, "direct"),
        "maksud_anda": share(questions, "clarify"),
        "opened_a_form": share(questions, "form"),
        "questions_that_opened_a_form": sum(1 for r in questions if r["form"]),
        "emergency_shown_for_questions": share(questions, "emergency"),
        "by_language": by_lang,
        "emergencies": len(emergencies),
        "emergency_recall": share(emergencies, "emergency"),
        "false_alarms": f"{sum(1 for r in others if r['emergency'])}/{len(others)}",
        "false_alarm_rate": share(others, "emergency"),
        "reports": len(reports),
        "reports_taken": share(reports, "correct"),
    }


def summarise_conversations(items: list[dict[str, Any]], results: list[ConversationResult]) -> dict[str, Any]:
    """Pass rate overall, and per kind of thing the conversations test."""
    kinds: dict[str, list[bool]] = defaultdict(list)
    for item, result in zip(items, results):
        said = {outcome for turn in item.get("turns") or [] for outcome in turn.get("expect") or []}
        for outcome in said:
            kinds[outcome].append(result.passed)
    return {
        "conversations": len(results),
        "passed": round(sum(r.passed for r in results) / len(results), 3) if results else 0.0,
        "by_outcome": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(kinds.items())},
    }


def load(path: Path, key: str) -> list[dict[str, Any]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    items = raw.get(key) or []
    for item in items:
        for turn in item.get("turns") or []:
            unknown = set(turn.get("expect") or []) - OUTCOMES
            if unknown:
                raise SystemExit(f"{path}: {item.get('id')}: unknown outcome {sorted(unknown)}")
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", nargs="*", type=Path, default=[BLIND_DIR / "questions_open.yml"])
    parser.add_argument("--conversations", nargs="*", type=Path, default=[BLIND_DIR / "conversations_open.yml"])
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--out", type=Path, default=REPORTS / "blind_open.json")
    args = parser.parse_args()
    questions = [item for path in args.questions for item in load(path, "items")]
    conversations = [item for path in args.conversations for item in load(path, "conversations")]
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(
            database_url=f"sqlite:///{Path(scratch) / 'blind.sqlite3'}",
            content_dir=PROJECT_ROOT / "content",
            model_dir=PROJECT_ROOT / "models",
        )
        bot = build_bot(settings, clock=ManualClock(EVAL_DAY))
        harness = Harness(bot)
        question_results = [judge_question(harness, item) for item in questions]
        conversation_results = [play_conversation(harness, item) for item in conversations]
        bot.engine.dispose()
    summary = {
        "questions": summarise_questions(question_results),
        "conversations": summarise_conversations(conversations, conversation_results),
    }
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "summary": summary,
                "questions": question_results,
                "conversations": [r.__dict__ for r in conversation_results],
            },
            indent=1,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    if args.show_misses:
        misses: Counter[str] = Counter()
        for r in question_results:
            if not r["correct"]:
                kind = "emergency" if r["emergency"] else "form" if r["form"] else "clarify" if r["clarify"] else "wrong/other"
                misses[kind] += 1
                print(f"MISS [{r['expect']}/{kind}] {r['text']}\n    -> {r['reply'][:200]!r}")
        for r in conversation_results:
            if not r.passed:
                print(f"FAIL {r.id}: {'; '.join(r.failures)}")
        print(dict(misses))


if __name__ == "__main__":
    main()
