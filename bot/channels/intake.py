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

Under overload a process must degrade, not collapse: turns started faster than
they finish would all wait for the same CPU and database connections, pass
the deadline together and come back as retries. So a `TurnGate` lets at most
`turns_at_once` turns run at a time; the others wait for a slot (no work done
yet, so one that waits past the deadline costs nothing), and once
`turns_waiting` are already waiting a new message is refused at once with
"retry": the provider tries again later instead of everyone waiting 5 s.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Optional

from anyio import CapacityLimiter, move_on_after, to_thread

from bot.app import Bot
from bot.config import Settings
from bot.core import Handled
from bot.messages import Inbound
from bot.privacy import mask

logger = logging.getLogger(__name__)


class TurnGate:
    """The turns of one web process: how many run at once, how many may wait.

    One gate serves every channel of an app (they share the database pool).
    Its limiter belongs to the event loop that first uses it; a gate used from
    another loop (tests start one per client) makes a new one.
    """

    def __init__(self, at_once: int, waiting: int) -> None:
        self.at_once = max(1, at_once)
        self.waiting = max(0, waiting)
        self._limiter: Optional[CapacityLimiter] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    @classmethod
    def for_settings(cls, settings: Settings) -> "TurnGate":
        at_once = settings.turns_at_once or (1 if settings.database_url.startswith("sqlite") else 8)
        return cls(at_once, settings.turns_waiting)

    def limiter(self) -> CapacityLimiter:
        loop = asyncio.get_running_loop()
        if self._limiter is None or self._loop is not loop:
            self._limiter, self._loop = CapacityLimiter(self.at_once), loop
        return self._limiter

    def full(self) -> bool:
        return self.limiter().statistics().tasks_waiting >= self.waiting


async def take(bot: Bot, inbound: Inbound, gate: TurnGate) -> bool:
    """Process one inbound message through the process's `gate`; True once it
    is safely stored (new or repeat) within the deadline, False when the
    provider should retry."""
    if gate.full():
        logger.warning(
            "%s message from %s refused: %d turns already waiting; asking the provider to retry",
            inbound.channel, mask(inbound.sender), gate.waiting,
        )
        return False
    handled: Handled | None = None
    with move_on_after(bot.settings.webhook_deadline):
        handled = await to_thread.run_sync(bot.core.take, inbound, abandon_on_cancel=True, limiter=gate.limiter())
    if handled is None:
        logger.error(
            "%s message from %s not stored within %.0f s; asking the provider to retry",
            inbound.channel, mask(inbound.sender), bot.settings.webhook_deadline,
        )
        return False
    if not handled.stored:
        logger.error("%s message from %s was not stored; asking the provider to retry", inbound.channel, mask(inbound.sender))
    return handled.stored
