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
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Optional

from nlu.classifier import Classifier, ModelMissingError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NLU_VENV_PYTHON = PROJECT_ROOT / ".venv-nlu" / "bin" / "python"


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
) -> RunningWorker:
    """Start a worker and wait until its model is loaded (it prints "ready").

    A worker that cannot load its model exits with the reason on stderr; that
    reason is raised as ModelMissingError, so a bot that cannot understand
    anything refuses to start with the same message as before the split.
    """
    command = [python or nlu_python(), "-m", "nlu.worker"]
    command += ["--socket", socket_path] if socket_path else ["--port", str(port or 0)]
    if model_dir is not None:
        command += ["--model-dir", str(model_dir)]
    if with_parent:
        command.append("--with-parent")  # ends with this process, even one killed with SIGKILL
    errors = stderr or tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=worker_environment(), stdout=subprocess.PIPE, stderr=errors, text=True
    )
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
    return RunningWorker(process, address, model)


_own_worker: Optional[RunningWorker] = None


def own_worker(model_dir: Path) -> RunningWorker:
    """This process's private worker (one per process, stopped at exit), on a
    Unix socket only this user can reach."""
    global _own_worker
    if _own_worker is None or _own_worker.process.poll() is not None:
        folder = Path(tempfile.mkdtemp(prefix="desmigras-nlu-"))
        print("Memuat model bahasa (NLU)...", file=sys.stderr, flush=True)
        try:
            _own_worker = start_worker(socket_path=str(folder / "nlu.sock"), model_dir=model_dir)
        finally:
            atexit.register(shutil.rmtree, folder, True)
        atexit.register(_own_worker.stop)  # atexit runs in reverse: the worker stops, then its folder goes
    return _own_worker


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
    os.environ["DESMIGRAS_NLU_WORKER"] = own_worker(model_dir).address
