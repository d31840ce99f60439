"""Asking for consent at a natural moment, in words (issue 12).

After a training registration the bot asks whether the person wants news of
new trainings. The question is remembered with the conversation; the next
message answers it if it reads as yes or no (any other message is simply
handled as usual and the question lapses: nobody is held in a loop).
"""

from __future__ import annotations

from bot.domain import subscriptions
from bot.turn import Turn
from flows import reading

ASKED = "ask_topic"


def ask(turn: Turn, topic: str) -> None:
    """Ask once: not when the person already said yes or no to this topic."""
    if subscriptions.choice(turn.session, turn.contact.id, topic) is not None:
        return
    turn.say(turn.content.text(f"ask_{topic}"))
    turn.remember(ASKED, topic)


def answer(turn: Turn) -> bool:
    topic = (turn.state or {}).get(ASKED)
    if not topic:
        return False
    turn.forget(ASKED)
    lexicon = reading.load_lexicon(turn.content.directory)
    said = reading.yes_or_no(lexicon, turn.text)
    if said is None:
        return False
    subscriptions.set_topics(turn.session, turn.contact.id, [topic], said, f"ditanya:{topic}", turn.now)
    turn.record("subscription", topic=topic, subscribed=said, source="ditanya")
    turn.say(turn.content.text("subscription_yes" if said else "subscription_no", topic=turn.content.text(f"topic_{topic}")))
    return True
