"""The NLU worker against the in-process model, side by side in one run
(issue 13/14): milliseconds per parse (p50/p95) on the held-out messages,
the cost of the local socket, and the memory and start-up of a process that
loads the model against one that only connects to the worker.

    ./dev py-nlu -m bench.nlu_worker [--rounds 3]

It runs in the Rasa venv (Python 3.10: the in-process side needs Rasa); the
probe of a web process that asks the worker runs on the service's Python
(.venv, 3.12), as in production.

Prints one table; nothing is timed in the test suite.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = ROOT / "nlu" / "heldout" / "heldout.yml"
SERVICE_PYTHON = ROOT / ".venv" / "bin" / "python"

PROBE = """
import os, sys, time
start = time.monotonic()
sys.path.insert(0, {root!r})
if sys.argv[1] == "in-process":
    from nlu.classifier import load_classifier
    from nlu.model_files import current_model_path
    classifier = load_classifier(current_model_path())
else:
    from nlu.worker_client import WorkerClassifier
    classifier = WorkerClassifier(sys.argv[2])
from bot.app import build_bot  # what a web worker imports besides the model
classifier.parse("halo")
ready = time.monotonic() - start
rss = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:"))
print(f"{{ready:.2f}} {{rss / 1024:.0f}}")
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from nlu.classifier import load_classifier
    from nlu.evaluate import load_examples
    from nlu.model_files import current_model_path
    from nlu.worker_client import WorkerClassifier
    from nlu.worker_process import TOKEN_ENV, new_token

    # a TCP worker answers only requests with its token: the worker, this
    # process's client and the probe processes all take it from the environment
    os.environ.setdefault(TOKEN_ENV, new_token())
    texts = [text for text, _ in load_examples(HELDOUT)]
    started = time.monotonic()
    worker = subprocess.Popen(
        [sys.executable, "-m", "nlu.worker", "--port", str(free_port())], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    address = worker.stdout.readline().split()[1]  # type: ignore[union-attr]
    worker_ready = time.monotonic() - started
    try:
        local, remote = load_classifier(current_model_path()), WorkerClassifier(address)
        timings: dict[str, list[float]] = {"in-process": [], "worker": []}
        for _ in range(args.rounds):
            for text in texts:
                for name, classifier in (("in-process", local), ("worker", remote)):
                    begin = time.perf_counter()
                    classifier.parse(text)
                    timings[name].append((time.perf_counter() - begin) * 1000)
        probes = {}
        pythons = {"in-process": sys.executable, "worker": str(SERVICE_PYTHON) if SERVICE_PYTHON.exists() else sys.executable}
        for mode in ("in-process", "worker"):
            out = subprocess.run([pythons[mode], "-c", PROBE.format(root=str(ROOT)), mode, address], cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout.split()
            probes[mode] = (float(out[0]), float(out[1]))
        worker_rss = _rss_of(worker.pid)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    print(f"{len(texts)} held-out messages x {args.rounds} rounds, one process after the other, same model")
    for mode in ("in-process", "worker"):
        version = subprocess.run([pythons[mode], "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True).stdout.strip()
        print(f"{mode}: web process on Python {version}")
    print(f"{'':<12} {'p50 ms':>8} {'p95 ms':>8} {'start-to-ready s':>17} {'RSS MB':>12}")
    for mode in ("in-process", "worker"):
        values = timings[mode]
        print(f"{mode:<12} {statistics.median(values):>8.2f} {percentile(values, 0.95):>8.2f} {probes[mode][0]:>17.2f} {probes[mode][1]:>12.0f}")
    ipc = [w - i for w, i in zip(timings["worker"], timings["in-process"])]
    print(f"socket cost per call: p50 {statistics.median(ipc):.2f} ms, p95 {percentile(ipc, 0.95):.2f} ms")
    print(f"NLU worker: ready in {worker_ready:.1f} s, RSS {worker_rss:.0f} MB (one per machine, shared by the web workers)")
    print(f"web process ratio (worker / in-process): RSS {probes['worker'][1] / probes['in-process'][1]:.2f}x,"
          f" start {probes['worker'][0] / probes['in-process'][0]:.2f}x")


def _rss_of(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()
