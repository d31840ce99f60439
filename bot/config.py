"""Settings read once from the environment.

Everything deployment-specific (database, secrets, thresholds) comes from here so
that the same code runs on a laptop with SQLite and in production on PostgreSQL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    """What the running bot needs to know about its deployment."""

    database_url: str = field(
        default_factory=lambda: os.environ.get(
            "DESMIGRAS_DATABASE_URL", f"sqlite:///{PROJECT_ROOT / 'var' / 'desmigras.sqlite3'}"
        )
    )
    content_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("DESMIGRAS_CONTENT_DIR", PROJECT_ROOT / "content"))
    )
    model_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("DESMIGRAS_MODEL_DIR", PROJECT_ROOT / "models"))
    )
    # Below this intent confidence the bot asks for clarification instead of
    # guessing: a confident wrong answer about migration costs people money.
    nlu_threshold: float = field(default_factory=lambda: _env_float("DESMIGRAS_NLU_THRESHOLD", 0.55))
    # Texts longer than this are cut before NLU and storage; WhatsApp allows
    # 4096 characters, nobody types more on a phone in one message.
    max_text_length: int = field(default_factory=lambda: _env_int("DESMIGRAS_MAX_TEXT", 4000))


def load_settings() -> Settings:
    return Settings()
