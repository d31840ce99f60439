"""Two Pythons (issue 13): the service on a supported Python with current
libraries and no Rasa or TensorFlow in its processes; Rasa only in its own
venv, at the version both sides name the model after."""

from __future__ import annotations

import importlib.util
import sys
from importlib import metadata

import pytest

from bot.app import Bot
from nlu.model_files import NLU_LOCK, rasa_version


def test_the_service_runs_on_a_supported_python_with_current_libraries() -> None:
    assert sys.version_info >= (3, 12)
    assert metadata.version("SQLAlchemy").startswith("2.0.")
    assert int(metadata.version("twilio").split(".")[0]) >= 9
    assert int(metadata.version("python-telegram-bot").split(".")[0]) >= 22


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # imports and the model, not the database: once
def test_a_bot_that_understands_people_carries_no_rasa_or_tensorflow(bot: Bot) -> None:
    assert importlib.util.find_spec("rasa") is None
    assert importlib.util.find_spec("tensorflow") is None
    assert bot.classifier.parse("halo").intent == "sapa"  # the model answers, from the worker
    assert not any(name.split(".")[0] in {"rasa", "tensorflow"} for name in sys.modules)


def test_the_service_names_the_model_as_the_rasa_venv_does() -> None:
    pinned = next(line.split("==")[1] for line in NLU_LOCK.read_text().splitlines() if line.startswith("rasa=="))
    assert rasa_version() == pinned


@pytest.mark.rasa
def test_rasa_runs_on_python_3_10_at_the_locked_version() -> None:
    assert sys.version_info[:2] == (3, 10)
    pinned = next(line.split("==")[1] for line in NLU_LOCK.read_text().splitlines() if line.startswith("rasa=="))
    assert metadata.version("rasa") == pinned == rasa_version()
