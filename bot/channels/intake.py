"""Hand an inbound message to the core from async code, and know it was kept.

The core is synchronous (one database transaction per message) and NLU is CPU
work, so the turn runs in a worker thread and the event loop stays free for
other webhooks. Replies are not sent here: the core wrote them to the outbox in
the turn's transaction and the delivery worker sends them.

`Core.take` apologises instead of raising when a turn fails, and says whether
the message was stored: when the database was unreachable even for the
apology, a webhook must not answer 200, or the provider forgets a message we
never kept.

The answer must also come in time: Twilio gives up on a webhook after 15 s
and then does not retry unless told to (docs/deployment.md), and on a locked
SQLite database a failing turn plus its apology can wait twice the busy
timeout. So the webhook waits at most `webhook_deadline` seconds (5 by
default) and otherwise answers "not stored, retry". The turn goes on in its
thread: if it commits after all, the provider's retry is recognised by its id
and answered without a second turn; if it does not, the retry is a new try.
"""

from __future__ import annotations

import logging

from anyio import move_on_after, to_thread

from bot.app import Bot
from bot.core import Handled
from bot.messages import Inbound
from bot.privacy import mask

logger = logging.getLogger(__name__)


async def take(bot: Bot, inbound: Inbound) -> bool:
    """Process one inbound message; True once it is safely stored (new or
    repeat) within the deadline, False when the provider should retry."""
    handled: Handled | None = None
    with move_on_after(bot.settings.webhook_deadline):
        handled = await to_thread.run_sync(bot.core.take, inbound, abandon_on_cancel=True)
    if handled is None:
        logger.error(
            "%s message from %s not stored within %.0f s; asking the provider to retry",
            inbound.channel, mask(inbound.sender), bot.settings.webhook_deadline,
        )
        return False
    if not handled.stored:
        logger.error("%s message from %s was not stored; asking the provider to retry", inbound.channel, mask(inbound.sender))
    return handled.stored
