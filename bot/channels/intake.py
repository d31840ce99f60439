"""Hand an inbound message to the core from async code, and know it was kept.

The core is synchronous (one database transaction per message) and NLU is CPU
work, so the turn runs in a worker thread and the event loop stays free for
other webhooks. Replies are not sent here: the core wrote them to the outbox in
the turn's transaction and the delivery worker sends them.

`Core.take` apologises instead of raising when a turn fails, and says whether
the message was stored: when the database was unreachable even for the
apology, a webhook must not answer 200, or the provider forgets a message we
never kept. Providers retry a non-2xx delivery and the core recognises the
retry by its id.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool

from bot.app import Bot
from bot.messages import Inbound
from bot.privacy import mask

logger = logging.getLogger(__name__)


async def take(bot: Bot, inbound: Inbound) -> bool:
    """Process one inbound message; True once it is safely stored (new or repeat)."""
    handled = await run_in_threadpool(bot.core.take, inbound)
    if not handled.stored:
        logger.error("%s message from %s was not stored; asking the provider to retry", inbound.channel, mask(inbound.sender))
    return handled.stored
