"""The village question shared by several forms: choices come from the
database (content/villages.yml), and the answer is remembered on the contact."""

from __future__ import annotations

from bot.normalise import for_matching
from bot.domain.villages import active_villages
from flows.forms import Step, StepOption
from bot.turn import Turn


def village_options(turn: Turn, _step: Step) -> list[StepOption]:
    return [
        StepOption(village.code, village.name, match=(for_matching(village.name.removeprefix("Desa ")),))
        for village in active_villages(turn.session)
    ]


def remember_village(turn: Turn, village_code: str) -> None:
    if village_code:
        turn.contact.village_code = village_code
