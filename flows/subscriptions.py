"""Opting in and out of messages we send first, and sending broadcasts.

"berhenti", "stop", "eureun", "ora usah ngirim maneh", "unsubscribe" stop
every topic at once, in any state (inside a form the form is cancelled too:
the person wants quiet); "mulai lagi" starts them again. Both are confirmed in
words. The menu's "Atur pemberitahuan" shows what the person receives. The
timer tick moves broadcast recipients into the outbox (bot.domain.broadcasts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from bot.domain import broadcasts, subscriptions
from bot.message_templates import templates_for
from bot.storage.broadcast_models import TOPICS
from bot.turn import IntentHandler, TickContext, Turn
from flows import consent_question
from flows.feature import Feature
from nlu.classifier import Understanding

if TYPE_CHECKING:
    from flows.dialogue import Dialogue


def stop_all(turn: Turn, _understanding: Optional[Understanding]) -> None:
    subscriptions.opt_out_all(turn.session, turn.contact.id, f"kata:{turn.text[:40].lower()}", turn.now)
    turn.forget(consent_question.ASKED)
    turn.record("subscription", topic="semua", subscribed=False, source="kata")
    turn.say(turn.content.text("subscription_stopped"))


def start_all(turn: Turn, _understanding: Optional[Understanding]) -> None:
    subscriptions.opt_in_all(turn.session, turn.contact.id, f"kata:{turn.text[:40].lower()}", turn.now)
    turn.record("subscription", topic="semua", subscribed=True, source="kata")
    turn.say(turn.content.text("subscription_started"))


def show_status(turn: Turn, _understanding: Optional[Understanding]) -> None:
    said = subscriptions.topics_of(turn.session, turn.contact.id)
    lines = "\n".join(
        f"- {turn.content.text(f'topic_{topic}')}: {turn.content.text('subscription_on' if said[topic] else 'subscription_off')}"
        for topic in TOPICS
    )
    turn.say(turn.content.text("subscription_status", lines=lines))


def send_broadcasts(ctx: TickContext) -> int:
    return broadcasts.dispatch(ctx.session, templates_for(ctx.content.directory), ctx.now, lambda note: ctx.deliver(ctx.session, note, ctx.now))


def _handlers(_dialogue: "Dialogue") -> dict[str, IntentHandler]:
    return {"berhenti_langganan": stop_all, "mulai_langganan": start_all, "atur_kabar": show_status}


FEATURE = Feature(
    name="subscriptions",
    handlers=_handlers,
    followups=lambda _dialogue: [consent_question.answer],
    tick=send_broadcasts,
)
