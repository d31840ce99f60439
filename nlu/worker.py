"""The NLU worker: one process that loads the Rasa model once and answers
parse requests from every web worker of the machine over a local socket
(issue 13). The web processes then carry no TensorFlow.

    DESMIGRAS_NLU_TOKEN_FILE=/etc/desmigras/nlu.token python -m nlu.worker --port 5055   # 127.0.0.1 only
    python -m nlu.worker --socket /run/desmigras/nlu.sock

Protocol, version 1: one JSON object per line each way.

    -> {"v": 1, "text": "gaji kakak belum dibayar"}
    <- {"v": 1, "ok": true, "model": "nlu-3b84...", "intent": "lapor_masalah", "confidence": 0.97,
        "entities": [["negara", "malaysia", "malaysia"]], "ranking": [["lapor_masalah", 0.97], ...]}
    <- {"v": 1, "ok": false, "error": "..."}          (bad request; the connection stays usable)

It listens only on 127.0.0.1 or a Unix socket: messages are personal data and
never leave the machine. When ready it prints "ready <address>" on stdout.

On TCP every local user can connect, so each request must carry the worker's
token (`"token": "..."`, from DESMIGRAS_NLU_TOKEN or an owner-only file,
DESMIGRAS_NLU_TOKEN_FILE or --token-file); a request without it is answered
{"ok": false, "error": "unauthorized"} and the connection is closed, before
the model sees anything. Without a token the worker refuses to listen on TCP.
A Unix socket needs no token: its file permissions are the boundary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, Optional

from nlu.classifier import ModelMissingError, load_agent, to_understanding
from nlu.model_files import current_model_path
from nlu.worker_process import TOKEN_ENV, TOKEN_FILE_ENV, WorkerTokenError, configured_token, read_token_file

PROTOCOL = 1
MAX_LINE = 16 * 1024  # a message is cut to 4000 characters before NLU
logger = logging.getLogger("nlu.worker")


def understanding_json(result: dict[str, Any], model: str) -> dict[str, Any]:
    understood = to_understanding(result)
    return {
        "v": PROTOCOL,
        "ok": True,
        "model": model,
        "intent": understood.intent,
        "confidence": understood.confidence,
        "entities": [[e.name, e.value, e.text] for e in understood.entities],
        "ranking": [[name, confidence] for name, confidence in understood.ranking],
    }


class Worker:
    def __init__(self, model_path: Path, token: Optional[str] = None) -> None:
        self.agent = load_agent(model_path)
        self.model = model_path.name.removesuffix(".tar.gz")
        self.lock = asyncio.Lock()  # TensorFlow calls one at a time, as in-process
        self.token = token.encode("utf-8") if token else None  # required from every request when set (TCP)

    async def serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    return
                except asyncio.LimitOverrunError:
                    writer.write(self._error("request too long") + b"\n")
                    await writer.drain()
                    return
                answer, keep_open = await self.answer(line)
                writer.write(answer + b"\n")
                await writer.drain()
                if not keep_open:
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    async def answer(self, line: bytes) -> tuple[bytes, bool]:
        """The answer to one request line, and whether the connection stays open
        (not after a request without the token: nothing more is read from it)."""
        try:
            request = json.loads(line)
        except ValueError:
            request = None
        if self.token is not None and not self.authorised(request):
            return self._error("unauthorized"), False
        if request is None:
            return self._error("not JSON"), True
        if not isinstance(request, dict) or request.get("v") != PROTOCOL or not isinstance(request.get("text"), str):
            return self._error(f"expected {{\"v\": {PROTOCOL}, \"text\": ...}}"), True
        async with self.lock:
            result = await self.agent.parse_message(request["text"])
        return json.dumps(understanding_json(result, self.model), ensure_ascii=False).encode("utf-8"), True

    def authorised(self, request: Any) -> bool:
        """The request carries this worker's token (compared in constant time)."""
        assert self.token is not None
        offered = request.get("token") if isinstance(request, dict) else None
        return isinstance(offered, str) and hmac.compare_digest(offered.encode("utf-8"), self.token)

    def _error(self, reason: str) -> bytes:
        return json.dumps({"v": PROTOCOL, "ok": False, "error": reason}).encode("utf-8")


async def stop_when_orphaned(stop: asyncio.Event) -> None:
    """A worker started by a bot process for itself ends with it, even when that
    process is killed (no 1 GB orphan left behind)."""
    parent = os.getppid()
    while not stop.is_set():
        await asyncio.sleep(1.0)
        if os.getppid() != parent:
            stop.set()


async def serve(worker: Worker, host: str, port: int, socket_path: Optional[str], with_parent: bool = False) -> None:
    # TensorFlow builds its graph on the first call, which takes seconds: pay it
    # before "ready", not in the first person's message or in a time-boxed /health.
    await worker.agent.parse_message("halo")
    if socket_path:
        server = await asyncio.start_unix_server(worker.serve_client, path=socket_path, limit=MAX_LINE)
        os.chmod(socket_path, 0o660)
        address = f"unix:{socket_path}"
    else:
        server = await asyncio.start_server(worker.serve_client, host=host, port=port, limit=MAX_LINE)
        bound = server.sockets[0].getsockname()
        address = f"{bound[0]}:{bound[1]}"
    print(f"ready {address} {worker.model}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = asyncio.create_task(stop_when_orphaned(stop)) if with_parent else None
    async with server:
        await stop.wait()
    if watcher is not None:
        watcher.cancel()
    if socket_path:
        with contextlib.suppress(OSError):
            os.unlink(socket_path)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m nlu.worker", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1", "::1", "localhost"], help="only a local address")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--socket", help="a Unix socket path instead of TCP")
    parser.add_argument("--with-parent", action="store_true", help="stop when the process that started it ends")
    parser.add_argument(
        "--token-file",
        help=f"TCP only: a file readable only by its owner holding the token every request must carry"
        f" (default: ${TOKEN_ENV}, or the file in ${TOKEN_FILE_ENV})",
    )
    parser.add_argument("--model-dir", default=os.environ.get("DESMIGRAS_MODEL_DIR", str(Path(__file__).resolve().parents[1] / "models")))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    token: Optional[str] = None
    if not args.socket:  # checked before the model's minute of loading
        try:
            token = read_token_file(args.token_file) if args.token_file else configured_token()
        except WorkerTokenError as error:
            sys.exit(str(error))
        if not token:
            sys.exit(
                f"NLU worker menolak TCP tanpa token: setiap pengguna lokal bisa menghubungi 127.0.0.1."
                f" Isi ${TOKEN_ENV} atau ${TOKEN_FILE_ENV} (berkas mode 600), atau pakai --socket."
                f" / Refusing TCP without a token: set ${TOKEN_ENV} or ${TOKEN_FILE_ENV}, or use --socket."
            )
    for name in (TOKEN_ENV, TOKEN_FILE_ENV):  # nothing this process might start inherits the secret
        os.environ.pop(name, None)
    try:
        worker = Worker(current_model_path(Path(args.model_dir)), token)
    except ModelMissingError as error:
        sys.exit(str(error))
    asyncio.run(serve(worker, args.host, args.port, args.socket, args.with_parent))


if __name__ == "__main__":
    main()
