"""The NLU worker (issue 13): the Rasa model in its own process, asked over a
local socket. The same model gives exactly the same intents, confidences,
rankings and entities through the worker as in-process on the whole held-out
file; bad requests get an error, not a dead connection; and a bot whose worker
is killed mid-conversation keeps working (menus, forms, danger patterns,
nothing lost), says /health "degraded", and understands again once the worker
is back; a worker the bot started itself is started again by the bot (issue
24); a TCP worker answers only requests that carry its token (issue 24).
Real model, real processes, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest
import yaml
from sqlalchemy import func, select

from bot.app import build_bot
from bot.channels import check_settings
from bot.config import PROJECT_ROOT
from bot.storage.models import InboundMessage
from bot.web import Health, create_app
from nlu.classifier import NluUnavailable
from nlu.evaluate import load_examples
from nlu.model_files import DEFAULT_MODEL_DIR
from nlu.worker_client import WorkerClassifier, connect
from nlu.worker_process import (
    STATE_FILE_ENV,
    TOKEN_ENV,
    TOKEN_FILE_ENV,
    RunningWorker,
    new_token,
    nlu_python,
    own_worker,
    share_own_worker,
    start_worker,
    stop_own_worker,
)
from tests.channel_kit import wait_until
from tests.chat import Chat
from tests.conftest import make_settings

HELDOUT = PROJECT_ROOT / "nlu" / "heldout" / "heldout.yml"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def worker(session_nlu_worker: Optional[RunningWorker]) -> Iterator[RunningWorker]:
    """One TCP worker for the module, as an operator runs it: on a port of its
    own, its token in the environment both sides read. The degradation test
    kills it and starts it again on the same port (issue 25: the model takes
    most of a minute to load on 2 cores, so it is loaded once for the module,
    not once more per database); `running` hands out the live one. It is the
    session's worker when the session started one (the service's side in CI)."""
    with pytest.MonkeyPatch.context() as patch:
        if session_nlu_worker is not None:
            patch.setenv(TOKEN_ENV, session_nlu_worker.token or "")
            yield running(session_nlu_worker)
            running(session_nlu_worker)  # alive for the session's other tests (even after a failed one), which stops it
            return
        patch.setenv(TOKEN_ENV, new_token())
        own = start_worker(port=free_port())
        yield own
        own.stop()


def running(worker: RunningWorker) -> RunningWorker:
    """The module's worker, started again on its address if a test left it dead."""
    if worker.process.poll() is not None:
        worker.process = start_worker(port=int(worker.address.rsplit(":", 1)[1]), token=worker.token).process
    return worker


@pytest.mark.rasa
def test_the_worker_and_the_in_process_model_agree_on_every_held_out_message(worker: RunningWorker, real_classifier) -> None:  # type: ignore[no-untyped-def]
    remote = WorkerClassifier(worker.address, token=worker.token)
    texts = [text for text, _intent in load_examples(HELDOUT)]
    assert len(texts) > 300
    different = []
    for text in texts:
        here, there = real_classifier.parse(text), remote.parse(text)
        if (here.intent, here.confidence, here.ranking, here.entities) != (there.intent, there.confidence, there.ranking, there.entities):
            different.append(text)
    assert different == []
    assert remote.model == Path(real_classifier.model_path).name.removesuffix(".tar.gz")


def _request(token: object, **fields: object) -> bytes:
    return (json.dumps({"v": 1, "token": token, **fields}) + "\n").encode("utf-8")


def test_bad_requests_get_an_error_and_the_connection_stays_usable(worker: RunningWorker) -> None:
    conn = connect(worker.address, timeout=10)
    reader = conn.makefile("rb")
    for bad in (_request(worker.token, v=2, text="halo"), _request(worker.token), _request(worker.token, text=5)):
        conn.sendall(bad)
        answer = json.loads(reader.readline())
        assert answer["ok"] is False and answer["v"] == 1
    conn.sendall(_request(worker.token, text="halo min"))
    assert json.loads(reader.readline())["intent"] == "sapa"
    conn.sendall(b'{"v": 1, "text": "' + b"a" * 20000 + b'"}\n')
    assert json.loads(reader.readline())["ok"] is False
    conn.close()


def test_a_tcp_worker_answers_only_requests_with_its_token(worker: RunningWorker) -> None:
    """Any local user can connect to 127.0.0.1: without the token (given to the
    worker in its environment, readable only by its owner) nothing is parsed
    and the connection is closed."""
    assert worker.token and not worker.address.startswith("unix:")
    for refused in (
        b'{"v": 1, "text": "halo min"}\n',
        _request("x" * len(worker.token), text="halo min"),
        _request(None, text="halo min"),
        b"not json\n",
    ):
        conn = connect(worker.address, timeout=10)
        reader = conn.makefile("rb")
        conn.sendall(refused)
        assert json.loads(reader.readline()) == {"v": 1, "ok": False, "error": "unauthorized"}
        assert reader.readline() == b"", "the connection is closed after a request without the token"
        conn.close()
    with pytest.raises(NluUnavailable, match="unauthorized"):
        WorkerClassifier(worker.address, token="not-the-token").parse("halo min")
    assert WorkerClassifier(worker.address, token=worker.token).parse("halo min").intent == "sapa"


def test_a_worker_refuses_tcp_without_a_token_or_with_a_token_file_others_can_read(tmp_path: Path) -> None:
    """Checked before the model's minute of loading: the worker exits at once."""
    environment = {key: value for key, value in os.environ.items() if key not in (TOKEN_ENV, TOKEN_FILE_ENV)}
    command = [nlu_python(), "-m", "nlu.worker", "--port", "0", "--model-dir", str(tmp_path)]
    bare = subprocess.run(command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=60)
    assert bare.returncode != 0 and f"${TOKEN_ENV}" in bare.stderr, bare.stderr
    shared = tmp_path / "nlu.token"
    shared.write_text(new_token())
    shared.chmod(0o644)
    readable = subprocess.run(command + ["--token-file", str(shared)], cwd=PROJECT_ROOT, env=environment,
                              capture_output=True, text=True, timeout=60)
    assert readable.returncode != 0 and "chmod 600" in readable.stderr, readable.stderr
    shared.chmod(0o600)  # the owner's own file: accepted, and the worker goes on to load its model (none here)
    private = subprocess.run(command + ["--token-file", str(shared)], cwd=PROJECT_ROOT, env=environment,
                             capture_output=True, text=True, timeout=60)
    assert private.returncode != 0 and "Model NLU tidak ditemukan" in private.stderr, private.stderr


def test_the_bot_degrades_while_the_worker_is_down_and_recovers(database_url: str, worker: RunningWorker) -> None:
    worker = running(worker)  # an external TCP worker: the bot reads its token from the environment
    bot = build_bot(make_settings(database_url, nlu_worker=worker.address))
    assert isinstance(bot.classifier, WorkerClassifier)
    bot.classifier.cooldown = 0.3
    chat = Chat(bot, sender="6281200000301")
    sent = 0
    first = chat.says("syarat kerja ke taiwan apa aja")  # understood through the worker
    sent += 1
    assert "kesulitan membaca pesan" not in first and bot.classifier.model, first
    worker.kill()

    reply = chat.says("saya mau cerita sedikit soal keluarga saya")
    sent += 1
    assert "kesulitan membaca pesan" in reply and "1." in reply, reply
    assert "Syarat" in chat.says("1")  # the menu still works
    sent += 1
    # A question the knowledge base is sure of needs no NLU: still answered.
    known = chat.says("gimana caranya kerja ke jepang yang resmi")
    sent += 1
    assert "SSW" in known and "kesulitan membaca pesan" not in known, known
    danger = chat.says("tolong saya disekap majikan dan paspor ditahan")  # the patterns still work
    sent += 1
    assert "DARURAT" in danger or "darurat" in danger.lower(), danger
    health = Health(bot, check_settings(bot.settings)).check()
    assert health["status"] == "degraded" and health["checks"]["nlu"] == "degraded"

    running(worker)  # back on the same address (a new process; the module's next tests use it)
    time.sleep(0.4)  # the circuit's cooldown
    again = chat.says("gaji kakak saya di malaysia belum dibayar 3 bulan")
    sent += 1
    assert "kesulitan membaca pesan" not in again and "satgas" in again.lower(), again
    assert Health(bot, check_settings(bot.settings)).check()["checks"]["nlu"] == "ok"
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


def test_a_killed_worker_of_the_bots_own_is_started_again_and_health_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m bot.web` (and `./dev run`) start their own worker: nobody else
    restarts it. SIGKILL it: /health says why it is degraded (in this process
    and in a web process started by it), NLU is unavailable, and once
    the watcher has started it again on the same socket free text is
    understood, without restarting the bot. One worker start plus one restart
    (about a minute each on 2 cores), SQLite only."""
    from starlette.testclient import TestClient

    monkeypatch.setenv("DESMIGRAS_NLU_WORKER", "")  # not configured: the bot's own worker (restored afterwards)
    monkeypatch.setenv(STATE_FILE_ENV, "")
    share_own_worker(DEFAULT_MODEL_DIR)  # what `python -m bot.web` does before starting its web processes
    own = own_worker(DEFAULT_MODEL_DIR)
    bot = build_bot(make_settings(f"sqlite:///{tmp_path / 'restart.sqlite3'}"))
    try:
        assert isinstance(bot.classifier, WorkerClassifier) and bot.classifier.address == own.address
        bot.classifier.cooldown = 0.3
        health = TestClient(create_app(bot, run_worker=False, run_poller=False))
        chat = Chat(bot, sender="6281200000311")
        first = chat.says("syarat kerja ke taiwan apa aja")
        assert "kesulitan membaca pesan" not in first, first
        assert health.get("/health").json()["status"] == "ok"

        killed = own.process.pid
        os.kill(killed, signal.SIGKILL)
        assert wait_until(lambda: own.trouble is not None, timeout=10), "the watcher did not notice the death"
        answer = health.get("/health")
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "degraded" and "nlu: restarting, attempt 1" in answer.json()["reasons"], answer.json()
        probe = "from nlu.worker_process import own_worker_trouble; print(own_worker_trouble())"
        child = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
        assert child.stdout.strip() == "restarting, attempt 1", child.stderr  # a web process of `bot.web --workers N`
        with pytest.raises(NluUnavailable):  # down: free text would get the menu with an apology
            bot.classifier.parse("gaji kakak saya di malaysia belum dibayar 3 bulan")

        assert wait_until(lambda: own.trouble is None, timeout=600, interval=0.5), "the worker was not started again"
        assert own.restarts == 1 and own.process.pid != killed and own.address == bot.classifier.address
        time.sleep(0.4)  # the client's circuit cooldown
        again = chat.says("gaji kakak saya di malaysia belum dibayar 3 bulan")
        assert "kesulitan membaca pesan" not in again and "satgas" in again.lower(), again
        answer = health.get("/health").json()
        assert (answer["status"], answer["reasons"]) == ("ok", []), answer
        restarted = own.process.pid
    finally:
        stop_own_worker()
        bot.engine.dispose()
    assert wait_until(lambda: not _alive(restarted), timeout=30), "the restarted worker outlived stop_own_worker"


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # a zombie has ended; only its parent entry remains
