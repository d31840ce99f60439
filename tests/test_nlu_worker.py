"""The NLU worker (issue 13): the Rasa model in its own process, asked over a
local socket. The same model gives exactly the same intents, confidences,
rankings and entities through the worker as in-process on the whole held-out
file; bad requests get an error, not a dead connection; and a bot whose worker
is killed mid-conversation keeps working (menus, forms, danger patterns,
nothing lost), says /health "degraded", and understands again once the worker
is back. Real model, real processes, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import func, select

from bot.app import build_bot
from bot.channels import check_settings
from bot.config import PROJECT_ROOT
from bot.storage.models import InboundMessage
from bot.web import Health
from nlu.evaluate import load_examples
from nlu.worker_client import WorkerClassifier, connect
from tests.chat import Chat
from tests.conftest import make_settings

HELDOUT = PROJECT_ROOT / "nlu" / "heldout" / "heldout.yml"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_worker(port: int) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, "-m", "nlu.worker", "--port", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # "ready 127.0.0.1:PORT nlu-..." once the model is loaded
    assert line.startswith("ready "), f"worker did not start: {line!r}"
    return process, line.split()[1]


@pytest.fixture(scope="module")
def worker() -> Iterator[str]:
    process, address = start_worker(free_port())
    yield address
    process.send_signal(signal.SIGTERM)
    process.wait(30)


def test_the_worker_and_the_in_process_model_agree_on_every_held_out_message(worker: str, real_classifier) -> None:  # type: ignore[no-untyped-def]
    remote = WorkerClassifier(worker)
    texts = [text for text, _intent in load_examples(HELDOUT)]
    assert len(texts) > 300
    different = []
    for text in texts:
        here, there = real_classifier.parse(text), remote.parse(text)
        if (here.intent, here.confidence, here.ranking, here.entities) != (there.intent, there.confidence, there.ranking, there.entities):
            different.append(text)
    assert different == []
    assert remote.model == Path(real_classifier.model_path).name.removesuffix(".tar.gz")


def test_bad_requests_get_an_error_and_the_connection_stays_usable(worker: str) -> None:
    conn = connect(worker, timeout=10)
    reader = conn.makefile("rb")
    for bad in (b"not json\n", b'{"v": 2, "text": "halo"}\n', b'{"v": 1}\n', b"[1, 2]\n"):
        conn.sendall(bad)
        answer = json.loads(reader.readline())
        assert answer["ok"] is False and answer["v"] == 1
    conn.sendall(b'{"v": 1, "text": "halo min"}\n')
    assert json.loads(reader.readline())["intent"] == "sapa"
    conn.sendall(b'{"v": 1, "text": "' + b"a" * 20000 + b'"}\n')
    assert json.loads(reader.readline())["ok"] is False
    conn.close()


def test_the_bot_degrades_while_the_worker_is_down_and_recovers(database_url: str) -> None:
    port = free_port()
    process, address = start_worker(port)
    bot = build_bot(make_settings(database_url, nlu_worker=address))
    assert isinstance(bot.classifier, WorkerClassifier)
    bot.classifier.cooldown = 1.0
    chat = Chat(bot, sender="6281200000301")
    sent = 0
    try:
        first = chat.says("syarat kerja ke taiwan apa aja")  # understood through the worker
        sent += 1
        assert "kesulitan membaca pesan" not in first and bot.classifier.model, first
        process.send_signal(signal.SIGKILL)
        process.wait(30)

        reply = chat.says("gimana caranya kerja ke jepang yang resmi")
        sent += 1
        assert "kesulitan membaca pesan" in reply and "1." in reply, reply
        assert "Syarat" in chat.says("1")  # the menu still works
        sent += 1
        danger = chat.says("tolong saya disekap majikan dan paspor ditahan")  # the patterns still work
        sent += 1
        assert "DARURAT" in danger or "darurat" in danger.lower(), danger
        health = Health(bot, check_settings(bot.settings)).check()
        assert health["status"] == "degraded" and health["checks"]["nlu"] == "degraded"

        process, address = start_worker(port)  # back on the same address
        time.sleep(1.2)  # the circuit's cooldown
        again = chat.says("gaji kakak saya di malaysia belum dibayar 3 bulan")
        sent += 1
        assert "kesulitan membaca pesan" not in again and "satgas" in again.lower(), again
        assert Health(bot, check_settings(bot.settings)).check()["checks"]["nlu"] == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    with bot.sessions() as session:
        stored = session.execute(select(func.count()).select_from(InboundMessage).where(InboundMessage.error.is_(None))).scalar_one()
    assert stored == sent, "nothing lost while the worker was down"
    bot.engine.dispose()
