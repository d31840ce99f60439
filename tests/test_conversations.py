"""Every scenario of tests/conversations/*.yml against the real bot, on SQLite
and PostgreSQL (format: tests/conversation_runner.py)."""

from __future__ import annotations

import pytest

from bot.app import Bot
from tests.conversation_runner import load_scenarios, play

SCENARIOS = load_scenarios()


def test_the_scenarios_cover_unhappy_paths() -> None:
    """Issue 15: at least 120 scenarios, at least 50 of them unhappy paths."""
    assert len(SCENARIOS) >= 120
    assert sum(s.unhappy for s in SCENARIOS) >= 50


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_conversation(bot: Bot, scenario) -> None:  # type: ignore[no-untyped-def]
    play(bot, scenario)
