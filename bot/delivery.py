"""The delivery worker: sends the outbox of every channel and fires the timers.

It runs as an asyncio task inside each web process (the default) or alone:

    python -m bot.delivery        # with DESMIGRAS_WORKER_IN_WEB=0 on the web processes

Every pass goes channel by channel through `Outbox.deliver`, which claims due
messages with a lease, lets the channel's sender send them, and settles each as
sent (with the provider id), retried later with exponential backoff, or failed
with the reason. Several workers can run at once: claims skip rows another
worker holds, and an expired lease (a worker that died mid-send) makes the
message due again instead of lost.

Two rules are added on top of the outbox:
- Order: a message is not sent while an earlier one to the same chat is still
  waiting (a failed first reply retried after the second would read wrong).
- Batch size: a claimed batch must be sent before its lease runs out, or another
  worker could claim and send the same rows; the batch is sized from the lease
  and the provider timeout.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Mapping, Optional

from sqlalchemy import select

from bot.app import Bot
from bot.channels import ChannelSender, where
from bot.domain import subscriptions
from bot.domain.broadcasts import OPTED_OUT
from bot.message_templates import templates_for
from bot.outbox import DeliveryStats, PermanentDeliveryError, PostponeDelivery
from bot.storage.models import OutboundMessage

logger = logging.getLogger(__name__)

MAX_BATCH = 20
# A message waiting behind one that another worker is sending right now.
BUSY_WAIT = 2.0


@dataclass
class Totals:
    """Running counts since the worker started (also the figures tests print)."""

    passes: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    postponed: int = 0
    timers_fired: int = 0
    by_channel: dict[str, DeliveryStats] = field(default_factory=dict)

    def add(self, channel: str, stats: DeliveryStats) -> None:
        self.sent += stats.sent
        self.retried += stats.retried
        self.failed += stats.failed
        self.postponed += stats.postponed
        mine = self.by_channel.setdefault(channel, DeliveryStats())
        mine.sent += stats.sent
        mine.retried += stats.retried
        mine.failed += stats.failed
        mine.postponed += stats.postponed


class InOrder:
    """Wraps a sender: a message leaves only when nothing earlier to the same
    chat is still pending. Otherwise it waits (as a retry) until that one is
    due, so it is tried right after it and never overtakes it.

    What is earlier is read once per claimed batch (`claimed`), not once per
    message: the rows outside the batch from the database, the batch's own
    rows from what happened to them in this pass (a message that did not go
    holds back the later ones to the same chat). Read at the claim, the picture
    can only be older than the truth, which makes a message wait, never overtake.
    """

    def __init__(self, bot: Bot, sender: ChannelSender) -> None:
        self.bot = bot
        self.sender = sender
        self.stale_after = timedelta(seconds=2 * bot.settings.provider_timeout + 5)
        self._batch: set[int] = set()
        self._earlier: dict[str, list[tuple[int, str, datetime]]] = {}
        self._held_back: dict[str, int] = {}  # chat -> the batch's first message that did not go

    def claimed(self, rows: list[OutboundMessage]) -> None:
        """The earlier pending messages to every chat of the batch, in one query."""
        self._batch = {row.id for row in rows}
        self._held_back = {}
        with self.bot.sessions() as session:
            found = session.execute(
                select(OutboundMessage.address, OutboundMessage.id, OutboundMessage.status, OutboundMessage.next_attempt_at)
                .where(
                    OutboundMessage.channel == rows[0].channel,
                    OutboundMessage.address.in_({row.address for row in rows}),
                    OutboundMessage.id < max(self._batch),
                    OutboundMessage.id.not_in(self._batch),
                    OutboundMessage.status.in_(("pending", "sending")),
                )
                .order_by(OutboundMessage.id)
            ).all()
        self._earlier = {}
        for address, message_id, status, due in found:
            self._earlier.setdefault(address, []).append((message_id, status, due))

    def send(self, row: OutboundMessage) -> str:
        if row.topic is not None and not self._consented(row):
            raise PermanentDeliveryError(OPTED_OUT)
        held_back = self._held_back.get(row.address)
        if row.id in self._batch and held_back is not None and held_back < row.id:
            self._held_back.setdefault(row.address, row.id)
            raise PostponeDelivery(f"waiting for earlier message #{held_back} to the same chat", retry_after=1.0)
        earlier = self._earlier_of(row)
        now = self.bot.clock.now()
        waits: list[float] = []
        for _id, status, due in earlier:
            if status == "pending":
                waits.append((due - now).total_seconds())
            elif now - (due - timedelta(seconds=self.bot.outbox.lease)) < self.stale_after:
                waits.append(BUSY_WAIT)  # another worker is sending it right now
            else:
                # Claimed long ago by a worker that died: wait once for its lease
                # to run out (then it is sent again), not in many short retries
                # that would use up this message's attempts.
                waits.append((due - now).total_seconds() + 0.5)
        if earlier:
            self._held_back.setdefault(row.address, row.id)
            raise PostponeDelivery(
                f"waiting for earlier message #{earlier[0][0]} to the same chat", retry_after=max(1.0, min(waits))
            )
        try:
            return self.sender.send(row)
        except PermanentDeliveryError:
            raise  # failed for good: it no longer holds anything back
        except Exception:
            self._held_back.setdefault(row.address, row.id)  # retried later: the next ones wait for it
            raise

    def _earlier_of(self, row: OutboundMessage) -> list[tuple[int, str, datetime]]:
        if row.id not in self._batch:
            self.claimed([row])  # sent without its batch being announced: a batch of one
        return [e for e in self._earlier.get(row.address, []) if e[0] < row.id]

    def _consented(self, row: OutboundMessage) -> bool:
        """Checked again right before sending: an opt-out typed after the
        message was queued still stops it."""
        template = templates_for(self.bot.content.directory).get(row.template or "")
        with self.bot.sessions() as session:
            return subscriptions.may_send(session, row.contact_id, row.topic, needs_opt_in=template is not None and template.category == "marketing")


def safe_batch(lease: float, provider_timeout: float) -> int:
    """How many rows one claim may take: all must be tried within half the lease
    even if every send times out."""
    return max(1, min(MAX_BATCH, int((lease / 2) // max(provider_timeout, 0.001))))


class DeliveryWorker:
    def __init__(
        self,
        bot: Bot,
        senders: Mapping[str, ChannelSender],
        batch: Optional[int] = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot = bot
        self.senders = dict(senders)
        self.batch = batch or safe_batch(bot.outbox.lease, bot.settings.provider_timeout)
        self.totals = Totals()
        self._ordered = {name: InOrder(bot, sender) for name, sender in self.senders.items()}
        self._monotonic = monotonic
        self._timers_due = 0.0

    def run_once(self) -> int:
        """One pass over every channel, then the timers if due; returns how many
        messages were handled (sent, retried or failed), to know whether to
        go again at once or rest."""
        handled = 0
        for name, sender in self.senders.items():
            try:
                sender.prepare()
                ordered, parallel = self._ordered[name], max(1, sender.parallel)
                # Every chat of a batch is tried within half the lease: a chat
                # stops at its first failure, so `parallel` chats at a time may
                # take `parallel` times the batch.
                stats = self.bot.outbox.deliver(
                    name, ordered.send, limit=self.batch * parallel, on_claim=ordered.claimed, parallel=parallel
                )
            except Exception as error:  # the database is down, a bug in a sender: try again next pass
                logger.error("delivery pass on %s failed: %s", name, where(error))
                continue
            self.totals.add(name, stats)
            handled += stats.sent + stats.retried + stats.failed
        if self._monotonic() >= self._timers_due:
            self._timers_due = self._monotonic() + self.bot.settings.timers_interval
            try:
                self.totals.timers_fired += self.bot.run_timers()
            except Exception as error:
                logger.error("timers failed: %s", where(error))
        self.totals.passes += 1
        return handled

    def run_forever(self, stop: threading.Event) -> None:
        """The standalone process: pass after pass until `stop` is set."""
        while not stop.is_set():
            if not self.run_once():
                stop.wait(self.bot.settings.delivery_interval)

    async def run(self, stop: asyncio.Event) -> None:
        """The web process: passes run in a worker thread (database and provider
        calls block), the event loop keeps serving webhooks meanwhile."""
        while not stop.is_set():
            try:
                handled = await asyncio.to_thread(self.run_once)
            except Exception as error:
                logger.error("delivery pass failed: %s", where(error))
                handled = 0
            if handled:
                continue
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.bot.settings.delivery_interval)
            except asyncio.TimeoutError:
                pass

    def close(self) -> None:
        self.bot.outbox.close()
        for sender in self.senders.values():
            try:
                sender.close()
            except Exception as error:
                logger.error("closing the %s sender failed: %s", sender.channel, where(error))


def main() -> None:
    """`python -m bot.delivery`: the worker as its own process."""
    from bot.app import build_bot
    from bot.channels import build_senders, channels_or_exit
    from bot.config import Settings
    from bot.content import ContentError
    from bot.channels import configure_logging
    from nlu.classifier import ModelMissingError, NoUnderstanding

    configure_logging()
    settings = Settings()
    channels = channels_or_exit(
        settings,
        "Tidak ada kanal yang diatur (TELEGRAM_BOT_TOKEN / TWILIO_*): tidak ada yang perlu dikirim."
        " / No channel is configured (TELEGRAM_BOT_TOKEN / TWILIO_*): nothing to deliver.",
    )
    try:
        bot = build_bot(settings, classifier=NoUnderstanding())  # sending and timers never read messages
    except (ContentError, ModelMissingError) as error:
        sys.exit(f"Desmigras tidak bisa dimulai / cannot start: {error}")
    worker = DeliveryWorker(bot, build_senders(bot, channels))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    logger.info("delivery worker started for %s", ", ".join(channels.names))
    try:
        worker.run_forever(stop)
    finally:
        worker.close()
        bot.engine.dispose()
        logger.info("delivery worker stopped: %s sent, %s retried, %s failed", worker.totals.sent, worker.totals.retried, worker.totals.failed)


if __name__ == "__main__":
    main()
