"""Conversations written as data (tests/conversations/*.yml), played against the real bot.

Each file holds `scenarios`; each scenario is what a person types, turn by
turn, and what the bot's replies to that turn must (or must not) contain:

    scenarios:
      - name: consent refused in words gets the hotline, not a loop
        unhappy: true                  # an unhappy path (refusal, slip, emergency, ...)
        turns:
          - user: "mau lapor masalah"
          - user: "nggak deh, takut datanya kemana-mana"
            expect: ["menghormati"]    # every phrase appears (case-insensitive) in the replies
            expect_any: ["0800", "BP2MI"]   # at least one appears
            not_expect: ["Mohon pilih"]
            max_chars: 600             # each reply of this turn is at most this long
          - satgas: "ambil {case}"     # as a satgas member (default satgas-jlamprang-1);
            as: satgas-jlamprang-2     # {case} = code of the newest case
            expect: ["Anda tangani"]
          - user: "ini slip gajinya"   # the caption (may be "")
            media: photo               # sent with a file: photo, document, voice, video
          - user: "makasih pak"
            silent: true               # the bot says nothing back (e.g. a second line in a row)
        case:                          # the newest case afterwards (optional)
          category: tppo
          urgent: true
        no_case: true                  # or: no case was created
        channel: whatsapp              # optional: the person writes on WhatsApp (default: console)

Matching is on plain text (as WhatsApp shows it), so a test reads like the chat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml
from sqlalchemy import select

from bot.app import Bot
from bot.messages import Attachment
from bot.storage.complaint_models import Case
from tests.chat import Chat

CONVERSATIONS = Path(__file__).parent / "conversations"
DEFAULT_SATGAS = "satgas-jlamprang-1"
CASE_FIELDS = {"category", "urgent", "country", "reporter_relation", "worker_name", "status", "contact_phone"}
TURN_KEYS = {"user", "satgas", "as", "expect", "expect_any", "not_expect", "max_chars", "payload", "media", "silent"}
MEDIA_TYPES = {"photo": "image/jpeg", "document": "application/pdf", "voice": "audio/ogg", "video": "video/mp4"}


@dataclass(frozen=True)
class Scenario:
    name: str
    file: str
    turns: tuple[dict[str, Any], ...]
    unhappy: bool = False
    case: dict[str, Any] = field(default_factory=dict)
    no_case: bool = False
    channel: str = "console"


CHANNELS = {"console", "whatsapp", "telegram"}


def load_scenarios(directory: Path = CONVERSATIONS) -> list[Scenario]:
    scenarios: list[Scenario] = []
    for path in sorted(directory.glob("*.yml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for index, item in enumerate(raw.get("scenarios") or []):
            where = f"{path.name} -> scenarios[{index}]"
            if not item.get("name") or not item.get("turns"):
                raise ValueError(f"{where}: 'name' and 'turns' are required")
            for turn_index, turn in enumerate(item["turns"]):
                unknown = set(turn) - TURN_KEYS
                if unknown or not ({"user", "satgas"} & set(turn)):
                    raise ValueError(f"{where} -> turns[{turn_index}]: needs user/satgas; unknown keys {sorted(unknown)}")
            unknown_case = set(item.get("case") or {}) - CASE_FIELDS
            if unknown_case:
                raise ValueError(f"{where}: unknown case fields {sorted(unknown_case)}")
            if item.get("channel", "console") not in CHANNELS:
                raise ValueError(f"{where}: channel must be one of {sorted(CHANNELS)}")
            scenarios.append(
                Scenario(
                    name=str(item["name"]),
                    file=path.name,
                    turns=tuple(item["turns"]),
                    unhappy=bool(item.get("unhappy", False)),
                    case=dict(item.get("case") or {}),
                    no_case=bool(item.get("no_case", False)),
                    channel=str(item.get("channel", "console")),
                )
            )
    names = [s.name for s in scenarios]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate scenario names: {sorted(duplicates)}")
    return scenarios


def newest_case(bot: Bot) -> Optional[Case]:
    with bot.sessions() as session:
        return session.execute(select(Case).order_by(Case.id.desc()).limit(1)).scalar_one_or_none()


def play(bot: Bot, scenario: Scenario, sender: str = "6281200000077") -> str:
    """Play the scenario; raise AssertionError with the transcript on the first miss."""
    # On WhatsApp the address is the person's number in E.164 (as Twilio sends it).
    person = Chat(bot, sender="+" + sender if scenario.channel == "whatsapp" else sender, channel=scenario.channel)
    satgas_chats: dict[str, Chat] = {}
    transcript: list[str] = []
    for index, turn in enumerate(scenario.turns):
        if "user" in turn:
            text = str(turn["user"])
            kind = turn.get("media")
            files = (Attachment(str(kind), f"file-{kind}-{index + 1}", MEDIA_TYPES.get(str(kind), "")),) if kind else ()
            replies = person.send(text, payload=turn.get("payload"), attachments=files)
            transcript.append(f"Warga> {f'[{kind}] ' if kind else ''}{text}")
        else:
            case = newest_case(bot)
            text = str(turn["satgas"]).replace("{case}", case.code if case else "ADU-NONE")
            who = str(turn.get("as", DEFAULT_SATGAS))
            chat = satgas_chats.setdefault(who, Chat(bot, sender=who))
            replies = chat.send(text)
            transcript.append(f"{who}> {text}")
        shown = [reply.as_plain_text() for reply in replies]
        transcript.extend(f"Bot> {line}" for line in shown)
        joined = "\n".join(shown).casefold()
        problems = []
        for phrase in turn.get("expect") or ():
            if str(phrase).casefold() not in joined:
                problems.append(f"missing {phrase!r}")
        any_of = turn.get("expect_any") or ()
        if any_of and not any(str(p).casefold() in joined for p in any_of):
            problems.append(f"none of {list(any_of)!r}")
        for phrase in turn.get("not_expect") or ():
            if str(phrase).casefold() in joined:
                problems.append(f"unexpected {phrase!r}")
        limit = turn.get("max_chars")
        if limit:
            long = [len(line) for line in shown if len(line) > int(limit)]
            if long:
                problems.append(f"reply of {long} chars > {limit}")
        if turn.get("silent"):
            if replies:
                problems.append("a reply where none was expected")
        elif not replies:
            problems.append("no reply at all")
        if problems:
            raise AssertionError(
                f"{scenario.file} / {scenario.name}, turn {index + 1}: {'; '.join(problems)}\n\n" + "\n".join(transcript)
            )
    case = newest_case(bot)
    if scenario.no_case and case is not None:
        raise AssertionError(f"{scenario.name}: a case was created\n\n" + "\n".join(transcript))
    if scenario.case:
        if case is None:
            raise AssertionError(f"{scenario.name}: no case was created\n\n" + "\n".join(transcript))
        for key, expected in scenario.case.items():
            actual = getattr(case, key)
            if actual != expected:
                raise AssertionError(
                    f"{scenario.name}: case.{key} is {actual!r}, expected {expected!r}\n\n" + "\n".join(transcript)
                )
    return "\n".join(transcript)
