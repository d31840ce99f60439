"""How a feature (complaints, trainings, privacy) plugs into the bot.

A feature brings its form actions, the option lists its forms need from the
database, its intent handlers, and optionally a `tick` that fires its stored
timers (escalations, reminders). `bot.app` collects them; nothing else knows
which features exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Optional

from sqlalchemy.orm import Session

from flows.forms import FormAction, OptionSource
from bot.turn import IntentHandler, TickContext, Turn

if TYPE_CHECKING:
    from flows.dialogue import Dialogue


@dataclass
class Feature:
    name: str
    actions: dict[str, FormAction] = field(default_factory=dict)
    option_sources: dict[str, OptionSource] = field(default_factory=dict)
    handlers: Callable[["Dialogue"], dict[str, IntentHandler]] = lambda _dialogue: {}
    # Fires due timers; returns how many it fired.
    tick: Optional[Callable[[TickContext], int]] = None
    # Commands looked at before anything else (satgas commands must not trip
    # the danger patterns when a case note quotes violence). Return True if handled.
    commands: list[Callable[[Turn], bool]] = field(default_factory=list)
    # Looked at after safety and steering words, before menus and NLU.
    followups: list[Callable[[Turn], bool]] = field(default_factory=list)
    # Takes a message that is only media (photo, voice, document); True if used.
    media: Optional[Callable[[Turn], bool]] = None
