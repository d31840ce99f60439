"""The one place that talks to Rasa.

The model is loaded once per process and used in-process (no HTTP hop). The rest
of the bot sees only `Understanding`: an intent with a confidence and canonical
entity values, so flows never depend on Rasa's dictionaries.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entity:
    name: str
    value: str  # canonical value after synonym mapping
    text: str  # what the person actually typed


@dataclass(frozen=True)
class Understanding:
    intent: str
    confidence: float
    entities: tuple[Entity, ...] = ()
    ranking: tuple[tuple[str, float], ...] = field(default=(), compare=False)

    def entity(self, name: str) -> Optional[str]:
        for entity in self.entities:
            if entity.name == name:
                return entity.value
        return None


class Classifier(Protocol):
    def parse(self, text: str) -> Understanding: ...


class ModelMissingError(RuntimeError):
    pass


class NluUnavailable(RuntimeError):
    """The NLU worker is down or slow: the turn goes on without understanding
    free text (see nlu/worker_client.py)."""


class NoUnderstanding:
    """For processes that never read people's messages (the delivery worker):
    they skip loading the model, about 1 GB of memory and seconds of start-up.
    Asking one to understand a message is a wiring error, so it says so loudly."""

    def parse(self, text: str) -> Understanding:
        raise RuntimeError("this process does not load the NLU model; messages are handled by the web process")


class RasaClassifier:
    """Rasa's Agent, loaded once, made callable from synchronous code.

    Rasa's parse API is a coroutine but does CPU work only; the turn handler is
    synchronous (it runs inside a database transaction), so we drive the coroutine
    on a private event loop. A lock keeps TensorFlow calls one at a time.
    """

    def __init__(self, model_path: Path) -> None:
        self._agent = load_agent(model_path)
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self.model_path = model_path

    def parse(self, text: str) -> Understanding:
        with self._lock:
            result = self._loop.run_until_complete(self._agent.parse_message(text))
        return to_understanding(result)


def load_agent(model_path: Path) -> Any:
    """Rasa's Agent for a trained model (in-process or in the NLU worker); a
    missing or unusable model stops the caller with a message a person can act on."""
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    if not model_path.exists():
        raise ModelMissingError(f"Model NLU tidak ditemukan: {model_path}. Jalankan './dev train' terlebih dahulu.")
    quiet_rasa()
    from rasa.core.agent import Agent

    try:
        agent = Agent.load(str(model_path))
    except Exception as error:  # corrupt archive, wrong Rasa version, ...
        raise ModelMissingError(f"Model NLU tidak bisa dimuat dari {model_path}: {error}") from error
    if not agent.is_ready():
        raise ModelMissingError(f"Model NLU di {model_path} tidak siap dipakai.")
    return agent


def quiet_rasa() -> None:
    """Rasa logs every parse, message text included, at debug level through
    structlog; that would put personal data in our logs."""
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("rasa").setLevel(logging.WARNING)


def to_understanding(result: dict[str, Any]) -> Understanding:
    intent = result.get("intent") or {}
    entities: list[Entity] = []
    seen: set[str] = set()
    # Regex extraction is exact for codes and phone numbers: prefer it over DIET.
    ordered = sorted(
        result.get("entities") or [], key=lambda e: 0 if e.get("extractor") == "RegexEntityExtractor" else 1
    )
    for raw in ordered:
        name = str(raw.get("entity", ""))
        if not name or name in seen:
            continue
        seen.add(name)
        entities.append(Entity(name=name, value=str(raw.get("value", "")), text=str(raw.get("value", ""))))
    ranking = tuple(
        (str(item.get("name")), float(item.get("confidence") or 0.0))
        for item in result.get("intent_ranking") or []
    )
    return Understanding(
        intent=str(intent.get("name") or "di_luar_topik"),
        confidence=float(intent.get("confidence") or 0.0),
        entities=tuple(entities),
        ranking=ranking,
    )


_shared: dict[Path, RasaClassifier] = {}
_shared_lock = threading.Lock()


def load_classifier(model_path: Path) -> RasaClassifier:
    """One loaded model per path per process (loading takes seconds)."""
    with _shared_lock:
        if model_path not in _shared:
            _shared[model_path] = RasaClassifier(model_path)
        return _shared[model_path]
