"""Hand an inbound message to the core from async code, and know it was kept.

The core is synchronous (one database transaction per message) and NLU is CPU
work, so the turn runs in a worker thread and the event loop stays free for
other webhooks. Replies are not sent here: the core wrote them to the outbox in
the turn's transaction and the delivery worker sends them.

`Core.handle` apologises instead of raising when a turn fails, and returns the
apology even when the database was unreachable and nothing could be stored. A
webhook must not answer 200 in that case, or the provider forgets a message we
never kept; so after the turn we check that the message is in the database.
Providers retry a non-2xx delivery and the core recognises the retry by its id.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from bot.app import Bot
from bot.channels import where
from bot.messages import Inbound
from bot.privacy import mask
from bot.storage.models import InboundMessage

logger = logging.getLogger(__name__)


async def take(bot: Bot, inbound: Inbound) -> bool:
    """Process one inbound message; True once it is safely stored (new or repeat)."""
    await run_in_threadpool(bot.core.handle, inbound)
    try:
        stored = await run_in_threadpool(is_stored, bot, inbound.channel, inbound.message_id)
    except Exception as error:
        logger.error("could not confirm %s message from %s: %s", inbound.channel, mask(inbound.sender), where(error))
        return False
    if not stored:
        logger.error("%s message from %s was not stored; asking the provider to retry", inbound.channel, mask(inbound.sender))
    return stored


def is_stored(bot: Bot, channel: str, message_id: str) -> bool:
    with bot.sessions() as session:
        found = session.execute(
            select(InboundMessage.id).where(InboundMessage.channel == channel, InboundMessage.external_id == message_id)
        ).first()
        return found is not None
