"""Deleting a person's data on request (hapus_data), and the message retention.

Personal data is removed or overwritten; what stays is anonymous (events without
text, case categories and statuses) so the village keeps honest statistics.
The erasing itself is the domain's (bot.domain.personal_data.erase_contact):
this feature asks for it with every eraser the other features declared, which
bot.app hands it (`feature(erasers)`); the messages are found by the links every
message row carries, so nothing depends on searching text.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Sequence

from bot.domain import cases, personal_data
from bot.domain.personal_data import Eraser
from bot.turn import TickContext, Turn
from flows.feature import Feature
from flows.forms import FormSpec


def purge_expired_messages(ctx: TickContext) -> int:
    """Retention (content/complaints.yml `retention_days`): messages and idle
    conversation states older than that are deleted; settled messages to
    deleted contacts lose text and address. Housekeeping, not a timer that
    fires for someone: it counts as nothing fired."""
    retention = timedelta(days=cases.settings_for(ctx.content.directory).retention_days)
    personal_data.forget_settled_to_erased(ctx.session)
    personal_data.purge_old_messages(ctx.session, ctx.now - retention)
    return 0


def feature(erasers: Sequence[Eraser]) -> Feature:
    """The deletion feature, erasing with the other features' `erasers`."""
    erasers = tuple(erasers)

    def delete_personal_data(turn: Turn, _spec: FormSpec, slots: dict[str, Any]) -> None:
        if slots.get("yakin") != "ya":
            turn.say(turn.content.text("data_not_deleted"))
            return
        personal_data.erase_contact(turn.session, turn.contact, turn.now, erasers)
        turn.conversation.context = {}
        turn.record("data_deleted")
        turn.say(turn.content.text("data_deleted"))

    return Feature(
        name="privacy",
        actions={"hapus_data_pribadi": delete_personal_data},
        tick=purge_expired_messages,
        # In a satgas reply window "hapus data saya" stays a request to the bot.
        reply_exempt=frozenset({"hapus_data"}),
    )
