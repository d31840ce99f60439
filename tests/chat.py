"""A person typing to the bot, for tests: sends through the real core and keeps
what came back."""

from __future__ import annotations

import itertools

from bot.app import Bot
from bot.messages import Attachment, Inbound, Outbound

_ids = itertools.count(1)


class Chat:
    def __init__(self, bot: Bot, sender: str, channel: str = "console") -> None:
        self.bot = bot
        self.sender = sender
        self.channel = channel
        self.history: list[tuple[str, list[Outbound]]] = []

    def send(
        self,
        text: str = "",
        payload: str | None = None,
        attachments: tuple[Attachment, ...] = (),
        message_id: str | None = None,
    ) -> list[Outbound]:
        inbound = Inbound(
            channel=self.channel,
            sender=self.sender,
            text=text,
            message_id=message_id or f"test-{next(_ids)}",
            payload=payload,
            attachments=attachments,
        )
        replies = self.bot.core.handle(inbound)
        self.history.append((text, replies))
        return replies

    def says(self, text: str, **kwargs) -> str:  # type: ignore[no-untyped-def]
        """Send and return everything the bot answered as one plain text."""
        return "\n---\n".join(reply.as_plain_text() for reply in self.send(text, **kwargs))

    def transcript(self) -> str:
        lines = []
        for text, replies in self.history:
            lines.append(f"Anda> {text}")
            lines.extend(f"Bot> {reply.as_plain_text()}" for reply in replies)
        return "\n".join(lines)
