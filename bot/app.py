"""Assemble a running bot from settings: database, content, NLU, flows.

Channels (console, Telegram, WhatsApp) and tests all build the bot here, so
there is exactly one wiring of the parts and nothing differs between them.
This is the only module of `bot` that imports `flows`: the features are
plugged in here, explicitly (`features()`), with what each declares (erasers,
channel commands, reply-exempt intents). See docs/architecture.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.content import Content, load_content
from bot.core import Core, deliver
from bot.knowledge import finder_for
from bot.messages import literal_scope
from bot.outbox import Outbox
from bot.storage.db import hold_startup_lock, make_engine, make_session_factory, migrate
from bot.domain.catalog_file import load_catalog
from bot.domain.trainings import sync_catalog
from bot.domain.villages import load_villages, sync_villages
from bot.turn import TickContext
from flows import complaints, deletion, satgas, subscriptions, trainings
from flows import dialogue as standard
from flows.dialogue import Dialogue
from flows.feature import Feature
from flows.forms import FormAction, FormCheck, FormEngine, OptionSource
from flows.village_question import village_options
from nlu.classifier import Classifier
from nlu.worker_process import choose_classifier


@dataclass
class Bot:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    content: Content
    classifier: Classifier
    dialogue: Dialogue
    core: Core
    outbox: Outbox
    clock: Clock
    features: list[Feature]

    def is_command(self, text: str) -> bool:
        """Whether a channel text is a feature's command in its exact form (what
        the bot takes from a Telegram group); channels ask this instead of
        knowing any feature's grammar."""
        return any(feature.channel_command(text) for feature in self.features if feature.channel_command)

    def run_timers(self) -> int:
        """Fire every due timer (escalations, reminders), each feature in its own transaction."""
        fired = 0
        for feature in self.features:
            if feature.tick is None:
                continue
            with literal_scope(), self.sessions() as session, session.begin():
                fired += feature.tick(TickContext(session, self.content, self.clock.now(), deliver))
        return fired


# Intents of the dialogue itself that stay requests to the bot in a satgas reply window.
STANDARD_REPLY_EXEMPT = frozenset({"menu"})


def features() -> list[Feature]:
    """Every feature of the bot, in the order their handlers are installed.
    Deletion erases with every other feature's erasers."""
    others = [satgas.FEATURE, complaints.FEATURE, trainings.FEATURE, subscriptions.FEATURE]
    erasers = [eraser for feature in others for eraser in feature.erasers]
    return [deletion.feature(erasers), *others]


def sync_reference_data(session: Session, content_dir: Path) -> None:
    """The one start-up sync of content into the database: villages (with their
    satgas) and the training catalogue. Idempotent."""
    sync_villages(session, load_villages(content_dir))
    sync_catalog(session, load_catalog(content_dir))


def build_dialogue(content: Content, installed: list[Feature]) -> Dialogue:
    actions: dict[str, FormAction] = {}
    option_sources: dict[str, OptionSource] = {"village": village_options}
    checks: dict[str, FormCheck] = {}
    for feature in installed:
        actions.update(feature.actions)
        option_sources.update(feature.option_sources)
        checks.update(feature.form_checks)
    forms = FormEngine(content=content, actions=actions, option_sources=option_sources, checks=checks)
    dialogue = Dialogue(forms=forms)
    forms.interrupt = dialogue.interrupt
    dialogue.reply_exempt.update(STANDARD_REPLY_EXEMPT)
    for feature in installed:
        dialogue.reply_exempt.update(feature.reply_exempt)
    dialogue.handlers.update(
        {
            "sapa": standard.greet(dialogue),
            "menu": standard.menu(dialogue),
            "terima_kasih": standard.thanks,
            "di_luar_topik": standard.off_topic(dialogue),
            "setuju": standard.yes_no_without_question(dialogue),
            "tolak": standard.yes_no_without_question(dialogue),
        }
    )
    for feature in installed:
        dialogue.handlers.update(feature.handlers(dialogue))
        dialogue.commands.extend(feature.commands)
        dialogue.followups.extend(feature.followups(dialogue))
        if feature.media is not None:
            dialogue.media_handlers.append(feature.media)
    for feature in installed:
        # After every command: a satgas command is never a family's message.
        dialogue.commands.extend(feature.relays(dialogue))
    dialogue.followups.append(standard.answers.knowledge_followup)
    return dialogue


def build_bot(
    settings: Optional[Settings] = None,
    classifier: Optional[Classifier] = None,
    clock: Optional[Clock] = None,
) -> Bot:
    settings = settings or Settings()
    clock = clock or SystemClock()
    # A turn that waits longer than its webhook's deadline for a connection is
    # answered "retry" anyway: waiting past it only holds a thread.
    engine = make_engine(settings.database_url, settings.sqlite_busy_timeout, pool_timeout=settings.webhook_deadline)
    migrate(engine)
    sessions = make_session_factory(engine)
    content = load_content(settings.content_dir)
    # The knowledge finder takes seconds to build; built here, at start-up, not
    # inside the first question's webhook, whose deadline it would pass (a 503
    # and a provider retry for the first person who asks something).
    finder_for(content)
    with sessions() as session, session.begin():
        hold_startup_lock(session.connection())
        sync_reference_data(session, settings.content_dir)
    classifier = classifier or choose_classifier(settings.nlu_worker, settings.model_dir)
    installed = features()
    dialogue = build_dialogue(content, installed)
    core = Core(sessions, content, classifier, dialogue, settings, clock)
    return Bot(
        settings=settings,
        engine=engine,
        sessions=sessions,
        content=content,
        classifier=classifier,
        dialogue=dialogue,
        core=core,
        outbox=Outbox(sessions, clock, lease=settings.outbox_lease),
        clock=clock,
        features=installed,
    )
