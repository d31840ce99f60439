"""Danger first: an emergency answer goes out before anything else, whatever
the person was in the middle of.

Detection is two-layered on purpose. Keyword patterns (content/safety.yml) catch
explicit danger words cheaply on every message, including free-text answers
that never reach NLU; the NLU `darurat` intent catches the rest whenever NLU runs.
A false alarm costs one extra message; a missed one can cost a life.
"""

from __future__ import annotations

from bot.content import Content
from bot.messages import Option
from flows.turn import Turn

# Below the general threshold on purpose: recall matters more than precision here.
DARURAT_MIN_CONFIDENCE = 0.30


def mentions_danger(content: Content, text: str) -> bool:
    lowered = text.casefold()
    return any(pattern.search(lowered) for pattern in content.danger_patterns)


def nlu_says_danger(turn: Turn) -> bool:
    if not turn.nlu_was_called:
        return False
    understanding = turn.understand()
    return understanding.intent == "darurat" and understanding.confidence >= DARURAT_MIN_CONFIDENCE


def show_emergency(turn: Turn, offer_report: bool) -> None:
    """Immediate guidance and hotlines; optionally offer an urgent report."""
    if turn.emergency_shown:
        return
    turn.emergency_shown = True
    turn.record("emergency_shown", flow=turn.conversation.flow)
    turn.remember("emergency_at", turn.now.isoformat(timespec="seconds"))
    turn.say(turn.content.fill(turn.content.emergency.text))
    if offer_report:
        options = [
            Option("lapor_darurat", turn.content.text("emergency_report_option")),
            Option("menu", turn.content.text("menu_option")),
        ]
        turn.conversation.options = [{"value": o.value, "label": o.label} for o in options]
        turn.say(turn.content.text("emergency_follow_up"), options)
