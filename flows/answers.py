"""Information answers, always from content/answers.yml, with their source.

Country-aware: when the person named a destination (now or earlier in the
conversation), the country's note follows the general answer, because costs,
routes and bans differ by country (Korea's G-to-G, the Middle East moratorium).
"""

from __future__ import annotations

from typing import Optional

from bot.content import SourcedText
from nlu.classifier import Understanding
from flows.turn import Turn

COUNTRY_AWARE = {"tanya_syarat", "tanya_prosedur", "tanya_biaya", "cek_agen", "tanya_pelindungan"}


def render_sourced(turn: Turn, item: SourcedText) -> str:
    parts = [turn.content.fill(item.text)]
    if not item.verified:
        parts.append(turn.content.text("unverified_mark"))
    parts.append(turn.content.text("source_line", sources="; ".join(item.sources), reviewed=item.reviewed))
    return "\n\n".join(parts)


def answer(turn: Turn, intent: str, understanding: Optional[Understanding] = None) -> None:
    item = turn.content.answers[intent]
    turn.say(render_sourced(turn, item))
    if intent in COUNTRY_AWARE:
        country_key = turn.country_in_message() or (turn.state or {}).get("negara")
        country = turn.content.countries.get(country_key or "")
        if country and country.note:
            intro = turn.content.text("country_note_intro", country=country.name)
            turn.say(intro + "\n" + render_sourced(turn, country.note))
    turn.record("answered", intent=intent)
    turn.say(turn.content.text("answer_footer"))


def can_answer(turn: Turn, intent: str) -> bool:
    return intent in turn.content.answers
