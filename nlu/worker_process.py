"""Starting an NLU worker (nlu/worker.py) from the service's Python.

The service runs on a supported Python without Rasa; the model can only be
loaded by Rasa 3.6 on Python 3.10, in the project's second venv (`.venv-nlu`,
built by `./dev`). A deployment starts one worker per machine itself (systemd,
docs/deployment.md) and gives its address in DESMIGRAS_NLU_WORKER; when no
address is given, a single process (`./dev run`, the tests, a small village
install) starts its own worker here, so one command still runs the whole bot.
Standard library only: this module is imported on both sides.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Optional

from nlu.classifier import Classifier, ModelMissingError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NLU_VENV_PYTHON = PROJECT_ROOT / ".venv-nlu" / "bin" / "python"
TOKEN_ENV = "DESMIGRAS_NLU_TOKEN"
TOKEN_FILE_ENV = "DESMIGRAS_NLU_TOKEN_FILE"
# Set by share_own_worker for the web processes it starts (uvicorn's workers are
# other processes): the file where the starting process says "restarting N".
STATE_FILE_ENV = "DESMIGRAS_NLU_WORKER_STATE"
logger = logging.getLogger(__name__)


class WorkerTokenError(ModelMissingError):
    """The TCP worker's token is missing or unsafe. Raised like a missing model:
    without it nothing can be understood, and the process should not start."""


def new_token() -> str:
    """A random secret for one TCP worker (256 bits: not guessable by a local user)."""
    return secrets.token_urlsafe(32)


def read_token_file(path: str) -> str:
    """The token in `path`, refused when the file is readable by anyone but its
    owner: a token other local users can read protects nothing."""
    try:
        mode = os.stat(path).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise WorkerTokenError(
                f"Berkas token NLU {path} bisa dibaca pengguna lain (mode {stat.S_IMODE(mode):o}); jalankan chmod 600."
            )
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise WorkerTokenError(f"Berkas token NLU {path} tidak bisa dibaca: {error.strerror}") from error
    if not token:
        raise WorkerTokenError(f"Berkas token NLU {path} kosong.")
    return token


def configured_token(environ: Optional[dict[str, str]] = None) -> Optional[str]:
    """The TCP worker's token from the environment (DESMIGRAS_NLU_TOKEN, else the
    file named by DESMIGRAS_NLU_TOKEN_FILE); the worker and its clients read it
    the same way."""
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "").strip()
    if token:
        return token
    path = env.get(TOKEN_FILE_ENV, "").strip()
    return read_token_file(path) if path else None


def rasa_is_here() -> bool:
    """True in the Rasa venv (NLU tools, the worker itself), False in the service's."""
    return importlib.util.find_spec("rasa") is not None


def nlu_python() -> str:
    """The interpreter that can load the model: DESMIGRAS_NLU_PYTHON, this one if it
    has Rasa, else the project's Rasa venv."""
    configured = os.environ.get("DESMIGRAS_NLU_PYTHON")
    if configured:
        return configured
    if rasa_is_here():
        return sys.executable
    if NLU_VENV_PYTHON.exists():
        return str(NLU_VENV_PYTHON)
    raise ModelMissingError(
        "Python untuk model NLU (Rasa, Python 3.10) tidak ditemukan di .venv-nlu. "
        "Jalankan './dev train' sekali untuk memasangnya."
    )


def worker_environment() -> dict[str, str]:
    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass
class RunningWorker:
    process: subprocess.Popen[str]
    address: str
    model: str
    token: Optional[str] = None  # what a client sends to a TCP worker; None on a Unix socket

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL, for tests and benchmarks of a worker that dies."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)


def start_worker(
    *,
    port: Optional[int] = None,
    socket_path: Optional[str] = None,
    model_dir: Optional[Path] = None,
    python: Optional[str] = None,
    stderr: Optional[IO[str]] = None,
    with_parent: bool = True,
    token: Optional[str] = None,
    started: Optional[Callable[[subprocess.Popen[str]], None]] = None,
) -> RunningWorker:
    """Start a worker and wait until its model is loaded (it prints "ready").

    A worker that cannot load its model exits with the reason on stderr; that
    reason is raised as ModelMissingError, so a bot that cannot understand
    anything refuses to start with the same message as before the split.

    On TCP the worker gets `token` (default: the configured one, else a new
    random one) in its environment, which only its owner can read, never on
    its command line, which every local user can; the returned worker carries
    it for the clients. `started` sees the process before its model is loaded
    (a supervisor stopping meanwhile must be able to end it).
    """
    command = [python or nlu_python(), "-m", "nlu.worker"]
    command += ["--socket", socket_path] if socket_path else ["--port", str(port or 0)]
    if model_dir is not None:
        command += ["--model-dir", str(model_dir)]
    if with_parent:
        command.append("--with-parent")  # ends with this process, even one killed with SIGKILL
    environment = worker_environment()
    if not socket_path:
        token = token or configured_token() or new_token()
        environment[TOKEN_ENV] = token
        environment.pop(TOKEN_FILE_ENV, None)
    else:
        token = None
    errors = stderr or tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=environment, stdout=subprocess.PIPE, stderr=errors, text=True
    )
    if started is not None:
        started(process)
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until "ready <address> <model>" or exit
    if not line.startswith("ready "):
        process.wait(60)
        reason = ""
        if stderr is None:
            errors.seek(0)
            lines = [text for text in errors.read().splitlines() if text.strip()]
            reason = lines[-1] if lines else ""
        raise ModelMissingError(reason or f"NLU worker berhenti saat memuat model (kode {process.returncode}).")
    _, address, model = line.split()
    return RunningWorker(process, address, model, token)


class OwnWorker:
    """This process's private worker, on a Unix socket in a folder only this
    user can enter, watched by a thread that starts it again when it dies.

    Restarts wait 1, 2, 4, ... seconds (at most `max_delay`) after each death
    or failed start in a row, so a worker that cannot start (model deleted,
    out of memory) does not spin two cores; a worker that stayed up for
    `stable_after` seconds counts as healthy and the next death starts again
    from the shortest wait. The new worker listens on the same socket, so the
    clients (nlu/worker_client.py) just reconnect. While it is down,
    `trouble` says so for /health, in this process and, through a state file
    (STATE_FILE_ENV), in the web processes that share it.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        first_delay: float = 1.0,
        max_delay: float = 60.0,
        stable_after: float = 120.0,
    ) -> None:
        self.model_dir = model_dir
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.stable_after = stable_after
        self.folder = Path(tempfile.mkdtemp(prefix="desmigras-nlu-"))  # mode 0700
        self.socket_path = str(self.folder / "nlu.sock")
        self.state_file = self.folder / "state"
        self.restarts = 0  # restarts done since this process started (for tests and logs)
        self.pid = os.getpid()  # a forked child inherits this object but not the worker
        self._attempt = 0  # 0: running; N: N-th attempt in a row to bring it back
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._starting: Optional[subprocess.Popen[str]] = None
        self._write_state()
        try:
            self.current = start_worker(socket_path=self.socket_path, model_dir=model_dir)
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        self.address = self.current.address
        self._watcher = threading.Thread(target=self._watch, name="nlu-worker-watch", daemon=True)
        self._watcher.start()

    @property
    def process(self) -> subprocess.Popen[str]:
        """The worker process running now (a new one after each restart)."""
        return self.current.process

    @property
    def trouble(self) -> Optional[str]:
        """'restarting, attempt N' while the worker is down, else None."""
        with self._lock:
            return f"restarting, attempt {self._attempt}" if self._attempt else None

    def stop(self) -> None:
        """Stop watching, then stop the worker (and one half-started). Only in
        the process that started it: a forked child's exit must not stop it."""
        if os.getpid() != self.pid:
            return
        self._stopping.set()
        with self._lock:
            starting = self._starting
        if starting is not None and starting.poll() is None:
            starting.kill()
        self.current.stop()
        self._watcher.join(30)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _watch(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            born = time.monotonic()
            code = self.current.process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - born >= self.stable_after:
                failures = 0
            logger.error("NLU worker ended (code %s); starting it again", code)
            while not self._stopping.is_set():
                failures += 1
                self._set_attempt(failures)
                delay = min(self.first_delay * 2 ** (failures - 1), self.max_delay)
                if self._stopping.wait(delay):
                    return
                try:
                    replacement = start_worker(
                        socket_path=self.socket_path, model_dir=self.model_dir, started=self._remember_starting
                    )
                except (ModelMissingError, OSError, ValueError) as error:
                    logger.error("NLU worker did not start again (attempt %d): %s", failures, error)
                    continue
                finally:
                    with self._lock:
                        self._starting = None
                if self._stopping.is_set():
                    replacement.stop()
                    return
                self.current = replacement
                self.restarts += 1
                self._set_attempt(0)
                logger.warning("NLU worker is back after %d attempt(s)", failures)
                break

    def _remember_starting(self, process: subprocess.Popen[str]) -> None:
        with self._lock:
            self._starting = process
        if self._stopping.is_set():  # stop() came between the launch and this call
            process.kill()

    def _set_attempt(self, attempt: int) -> None:
        with self._lock:
            self._attempt = attempt
        self._write_state()

    def _write_state(self) -> None:
        """Atomically, so a web process never reads half a line."""
        with self._lock:
            text = f"restarting {self._attempt}\n" if self._attempt else "running\n"
        partial = self.state_file.with_suffix(".new")
        try:
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, self.state_file)
        except OSError:  # the folder is gone: the process is ending
            pass


_own_worker: Optional[OwnWorker] = None


def own_worker(model_dir: Path) -> OwnWorker:
    """This process's private worker (one per process, restarted when it dies,
    stopped at exit), on a Unix socket only this user can reach."""
    global _own_worker
    if _own_worker is None:
        print("Memuat model bahasa (NLU)...", file=sys.stderr, flush=True)
        _own_worker = OwnWorker(model_dir)
        atexit.register(stop_own_worker)
    return _own_worker


def stop_own_worker() -> None:
    """Stop this process's own worker, if it has one (at exit; tests)."""
    global _own_worker
    running, _own_worker = _own_worker, None
    if running is not None:
        running.stop()


def own_worker_trouble() -> Optional[str]:
    """Why the worker this process started itself, or the one shared by the
    process that started this one (`python -m bot.web` with several web
    processes), cannot answer now: 'restarting, attempt N'; None when it runs
    or when the worker is not ours (DESMIGRAS_NLU_WORKER set by the operator:
    its own supervisor restarts it)."""
    if _own_worker is not None and _own_worker.pid == os.getpid():
        return _own_worker.trouble
    path = os.environ.get(STATE_FILE_ENV, "").strip()
    if not path:
        return None
    try:
        words = Path(path).read_text(encoding="utf-8").split()
    except OSError:
        return None
    if len(words) == 2 and words[0] == "restarting" and words[1].isdigit():
        return f"restarting, attempt {words[1]}"
    return None


def choose_classifier(worker_address: Optional[str], model_dir: Path) -> Classifier:
    """The machine's worker when one is configured (DESMIGRAS_NLU_WORKER); in the
    Rasa venv the model in-process (NLU tools, the peer benchmark); otherwise a
    worker of this process's own."""
    from nlu.worker_client import WorkerClassifier

    if worker_address:
        return WorkerClassifier(worker_address)
    if rasa_is_here():
        from nlu.classifier import load_classifier
        from nlu.model_files import current_model_path

        return load_classifier(current_model_path(model_dir))
    return WorkerClassifier(own_worker(model_dir).address)


def share_own_worker(model_dir: Path) -> None:
    """Before a server starts its web processes: one worker for all of them
    (its address in the environment they inherit), not one model per process."""
    if os.environ.get("DESMIGRAS_NLU_WORKER") or rasa_is_here():
        return
    worker = own_worker(model_dir)
    os.environ["DESMIGRAS_NLU_WORKER"] = worker.address
    os.environ[STATE_FILE_ENV] = str(worker.state_file)
