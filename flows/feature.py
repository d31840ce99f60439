"""How a feature (complaints, trainings, satgas, deletion) plugs into the bot.

A feature brings its form actions, the option lists its forms need from the
database, its intent handlers, and optionally a `tick` that fires its stored
timers (escalations, reminders). It also declares what others need to know of
it: its erasers (for "hapus data"), its channel commands (what a Telegram group
may say to the bot) and the intents that stay requests to the bot while a
satgas talks with a family. `bot.app` plugs them in explicitly; nothing
registers itself at import time and nothing else knows which features exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, AbstractSet, Callable, Optional

from bot.domain.personal_data import Eraser
from bot.turn import IntentHandler, TickContext, Turn
from flows.forms import FormAction, FormCheck, OptionSource

if TYPE_CHECKING:
    from flows.dialogue import Dialogue


@dataclass
class Feature:
    name: str
    actions: dict[str, FormAction] = field(default_factory=dict)
    option_sources: dict[str, OptionSource] = field(default_factory=dict)
    # Per form name: why the answers so far cannot be taken (flows.forms.FormCheck).
    form_checks: dict[str, FormCheck] = field(default_factory=dict)
    handlers: Callable[["Dialogue"], dict[str, IntentHandler]] = lambda _dialogue: {}
    # Fires due timers; returns how many it fired.
    tick: Optional[Callable[[TickContext], int]] = None
    # Commands looked at before anything else (satgas commands must not trip
    # the danger patterns when a case note quotes violence). Return True if handled.
    commands: list[Callable[[Turn], bool]] = field(default_factory=list)
    # Looked at right after every feature's commands, before the bot reads the
    # message for itself (danger, steering words, forms, NLU): talk between
    # people that the bot only passes on (a family and the satgas holding
    # their case). Built with the assembled dialogue. Return True if handled.
    relays: Callable[["Dialogue"], list[Callable[[Turn], bool]]] = lambda _dialogue: []
    # Looked at after safety and steering words, before menus and NLU; built
    # with the assembled dialogue, like the handlers.
    followups: Callable[["Dialogue"], list[Callable[[Turn], bool]]] = lambda _dialogue: []
    # Takes a message that is only media (photo, voice, document); True if used.
    media: Optional[Callable[[Turn], bool]] = None
    # Anonymise this feature's rows for a contact who asked for deletion.
    erasers: list[Eraser] = field(default_factory=list)
    # Whether a channel text is one of this feature's commands in exact form
    # (what the bot takes from a Telegram group); channels ask `Bot.is_command`.
    channel_command: Optional[Callable[[str], bool]] = None
    # Intents that stay requests to the bot while a satgas talks with a family.
    reply_exempt: AbstractSet[str] = frozenset()
