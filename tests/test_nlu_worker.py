"""The NLU worker (issue 13): the Rasa model in its own process, asked over a
local socket. The same model gives exactly the same intents, confidences,
rankings and entities through the worker as in-process on the whole held-out
file; bad requests get an error, not a dead connection; and a bot whose worker
is killed mid-conversation keeps working (menus, forms, danger patterns,
nothing lost), says /health "degraded", and understands again once the worker
is back. Real model, real processes, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from sqlalchemy import func, select

from bot.app import build_bot
from bot.channels import check_settings
from bot.config import PROJECT_ROOT
from bot.storage.models import InboundMessage
from bot.web import Health
from nlu.evaluate import load_examples
from nlu.worker_client import WorkerClassifier, connect
from nlu.worker_process import start_worker
from tests.chat import Chat
from tests.conftest import make_settings

HELDOUT = PROJECT_ROOT / "nlu" / "heldout" / "heldout.yml"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def worker() -> Iterator[str]:
    running = start_worker(port=0)
    yield running.address
    running.stop()


@pytest.mark.rasa
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
    running = start_worker(port=port)
    bot = build_bot(make_settings(database_url, nlu_worker=running.address))
    assert isinstance(bot.classifier, WorkerClassifier)
    bot.classifier.cooldown = 1.0
    chat = Chat(bot, sender="6281200000301")
    sent = 0
    try:
        first = chat.says("syarat kerja ke taiwan apa aja")  # understood through the worker
        sent += 1
        assert "kesulitan membaca pesan" not in first and bot.classifier.model, first
        running.kill()

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

        running = start_worker(port=port)  # back on the same address
        time.sleep(1.2)  # the circuit's cooldown
        again = chat.says("gaji kakak saya di malaysia belum dibayar 3 bulan")
        sent += 1
        assert "kesulitan membaca pesan" not in again and "satgas" in again.lower(), again
        assert Health(bot, check_settings(bot.settings)).check()["checks"]["nlu"] == "ok"
    finally:
        running.stop()
    with bot.sessions() as session:
        stored = session.execute(select(func.count()).select_from(InboundMessage).where(InboundMessage.error.is_(None))).scalar_one()
    assert stored == sent, "nothing lost while the worker was down"
    bot.engine.dispose()


@pytest.mark.rasa
def test_the_example_reader_of_the_service_reads_every_nlu_file_as_rasa_does() -> None:
    from rasa.shared.nlu.training_data.loading import load_data

    files = [
        path for path in sorted((PROJECT_ROOT / "nlu" / "data").glob("*.yml")) + sorted((PROJECT_ROOT / "nlu" / "heldout").glob("*.yml"))
        if "nlu" in (yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    ]
    assert len(files) > 5
    for path in files:
        theirs = [(example.get("text"), example.get("intent")) for example in load_data(str(path)).intent_examples]
        assert load_examples(path) == theirs, path.name


def test_a_worker_started_by_a_bot_process_ends_when_that_process_is_killed(tmp_path: Path) -> None:
    """`./dev run` and a small install start their own worker; a bot killed with
    SIGKILL must not leave a 1 GB model process behind."""
    script = (
        "import sys; from nlu.worker_process import own_worker; from nlu.model_files import DEFAULT_MODEL_DIR\n"
        "worker = own_worker(DEFAULT_MODEL_DIR); print(worker.process.pid, flush=True); sys.stdin.read()\n"
    )
    bot_process = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert bot_process.stdout is not None
    worker_pid = int(bot_process.stdout.readline())
    assert Path(f"/proc/{worker_pid}").exists()
    bot_process.kill()
    bot_process.wait(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(worker_pid):
        time.sleep(0.2)
    assert not _alive(worker_pid), "the worker outlived the process that started it"


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # a zombie has ended; only its parent entry remains
