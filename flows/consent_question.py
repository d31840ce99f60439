"""Asking for consent at a natural moment, in words (issue 12).

After a training registration the bot asks whether the person wants news of
new trainings. The question is remembered with the conversation; the next
message answers it if it reads as yes or no (any other message is simply
handled as usual and the question lapses: nobody is held in a loop).
"""

from __future__ import annotations

from bot.domain import subscriptions
from bot.turn import Turn
from bot.normalise import for_matching
from flows import reading

ASKED = "ask_topic"
MAX_ANSWER_WORDS = 5
# Words around a yes or no that do not change it ("iya boleh kak", "ga usah deh").
FILLERS = frozenset({"deh", "dong", "aja", "saja", "kak", "pak", "bu", "mas", "mbak", "min", "sih", "kok", "terima", "kasih",
                     "makasih", "nuhun", "matur", "nuwun", "sangat", "banget", "kabari", "kabarin", "dulu", "nanti", "wae", "mawon"})


def ask(turn: Turn, topic: str) -> None:
    """Ask once: not when the person already said yes or no to this topic."""
    if subscriptions.choice(turn.session, turn.contact.id, topic) is not None:
        return
    turn.say(turn.content.text(f"ask_{topic}"))
    turn.remember(ASKED, topic)


def _only_yes_or_no_words(lexicon: reading.Lexicon, text: str) -> bool:
    words = for_matching(text).split()
    known = {word for phrase in (*lexicon.yes, *lexicon.no) for word in phrase.split()} | FILLERS
    return 0 < len(words) <= MAX_ANSWER_WORDS and all(word in known for word in words)


def answer(turn: Turn) -> bool:
    topic = (turn.state or {}).get(ASKED)
    if not topic:
        return False
    turn.forget(ASKED)
    lexicon = reading.load_lexicon(turn.content.directory)
    # "mau batalin pendaftaran" starts like "yes" and "ora sido melu" like "no",
    # but both are requests: only a reply made of yes/no words answers it.
    said = reading.yes_or_no(lexicon, turn.text) if _only_yes_or_no_words(lexicon, turn.text) else None
    if said is None:
        return False
    subscriptions.set_topics(turn.session, turn.contact.id, [topic], said, f"ditanya:{topic}", turn.now)
    turn.record("subscription", topic=topic, subscribed=said, source="ditanya")
    turn.say(turn.content.text("subscription_yes" if said else "subscription_no", topic=turn.content.text(f"topic_{topic}")))
    return True
