"""Scale-out across nodes (issue 14, goals 2 and 4): several independent web
nodes behind HAProxy share one PostgreSQL and one NLU worker; an open loop of
signed WhatsApp webhooks at a fixed rate; one node killed with SIGKILL in the
middle and started again.

    ./dev py -m bench.scale_out [--nodes 3] [--rate 100] [--seconds 120] [--kill-at 40] [--restart-after 10]
    ./dev py -m bench.scale_out --nodes 1 --web-workers 2 --separate-delivery --kill-at 0   # goal 2, one node

Each node is what a separate machine would run: `python -m bot.web` on its own
port with its delivery worker inside (or `--separate-delivery`); HAProxy
(Debian's package) balances them with health checks. Requests that fail
(the killed node's in-flight ones) are sent again, as Twilio does with its
retry settings (docs/deployment.md, section 4), with the same MessageSid.

The load generator must not eat a core: requests are signed before the run,
and a small asyncio client writes the prepared bytes on keep-alive connections
and reads only status line, headers and body length (no HTTP library). Its CPU
is printed beside the server's. Latency is counted from each message's
scheduled time, so a slow server cannot hide behind a late send.

Prints one table; writes reports/scale_out.json. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

from bench.load import (
    AUTH_TOKEN, OPEN_USERS, ROOT, WA_PATH, Conversations, Procs, accounting, base_env, cpu_seconds, create_pg_database,
    drain, drop_pg_database, free_port, machine_busy_seconds, outbox_counts, pct, signed_form, tree, twilio_sent,
    vm_hwm_mb, wait_http,
)
from nlu.worker_process import start_worker

PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else "python3"
LOGS = ROOT / "var" / "bench-logs"


# --- the requests, prepared before the clock starts --------------------------------------------
def prepared_requests(total: int, users: int, host: str, public_url: str) -> list[bytes]:
    validator = RequestValidator(AUTH_TOKEN)
    sources = [Conversations(9, offset=i) for i in range(users)]
    requests = []
    for k in range(total):
        form, signature = signed_form(validator, public_url + WA_PATH, *sources[k % users].next())
        body = urlencode(form).encode()
        head = (f"POST {WA_PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n")
        requests.append(head.encode() + body)
    return requests


# --- the light open-loop client ----------------------------------------------------------------
@dataclass
class Outcome:
    status: list[int]  # per request: HTTP status, 0 = connection failed / timed out
    latency: list[Optional[float]]  # seconds from the scheduled time to the full response
    client_cpu_s: float = 0.0
    peak_connections: int = 0
    late_sends: int = 0  # sent more than 100 ms after their time (the client fell behind)


async def exchange(pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]], host: str, port: int,
                   request: bytes, timeout: float) -> int:
    reader, writer = pool.pop() if pool else await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
        if length:
            await asyncio.wait_for(reader.readexactly(length), timeout)
        if not any(line.lower() == "connection: close" for line in lines):
            pool.append((reader, writer))
        else:
            writer.close()
        return status
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError):
        writer.close()
        return 0


async def open_loop(requests: list[bytes], rate: float, host: str, port: int, timeout: float = 30.0,
                    on_second: Optional[Any] = None) -> Outcome:
    outcome = Outcome(status=[0] * len(requests), latency=[None] * len(requests))
    pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    in_flight: set[asyncio.Task[None]] = set()
    cpu0 = sum(os.times()[:2])
    start = time.monotonic()

    async def one(k: int, due: float) -> None:
        outcome.status[k] = await exchange(pool, host, port, requests[k], timeout)
        outcome.latency[k] = time.monotonic() - due

    next_second = 1
    for k in range(len(requests)):
        due = start + k / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.1:
            outcome.late_sends += 1
        if on_second is not None and due - start >= next_second:
            on_second(next_second)
            next_second += 1
        task = asyncio.create_task(one(k, due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        outcome.peak_connections = max(outcome.peak_connections, len(in_flight))
    if in_flight:
        await asyncio.wait(list(in_flight), timeout=timeout + 5)
    for _, writer in pool:
        writer.close()
    outcome.client_cpu_s = sum(os.times()[:2]) - cpu0
    return outcome


async def resend_failed(requests: list[bytes], outcome: Outcome, host: str, port: int, rounds: int = 3) -> int:
    """Twilio's retry: the same request (same MessageSid) again; the bot stores it once."""
    resent = 0
    pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(rounds):
        failed = [k for k, status in enumerate(outcome.status) if status != 200]
        if not failed:
            break
        await asyncio.sleep(2.0)
        for k in failed:
            outcome.status[k] = await exchange(pool, host, port, requests[k], 30.0)
            resent += 1
    for _, writer in pool:
        writer.close()
    return resent


# --- the nodes and the load balancer -----------------------------------------------------------
@dataclass
class Node:
    name: str
    port: int
    env: dict[str, str]
    proc: Optional[subprocess.Popen] = None
    delivery: Optional[subprocess.Popen] = None
    cpu_of_dead: float = 0.0  # CPU seconds of killed incarnations
    peak_rss_mb: dict[str, Any] = field(default_factory=dict)

    def pids(self) -> list[int]:
        return [p.pid for p in (self.proc, self.delivery) if p is not None and p.poll() is None]


async def start_node(procs: Procs, node: Node, separate_delivery: bool) -> float:
    started = time.monotonic()
    node.proc = procs.start([PY, "-m", "bot.web"], node.env, LOGS / f"scale-{node.name}.log")
    await wait_http(f"http://127.0.0.1:{node.port}/health", 120, node.proc)
    if separate_delivery and (node.delivery is None or node.delivery.poll() is not None):
        node.delivery = procs.start([PY, "-m", "bot.delivery"], node.env, LOGS / f"scale-{node.name}-delivery.log")
    return time.monotonic() - started


def haproxy_config(port: int, nodes: list[Node]) -> str:
    servers = "\n".join(
        f"    server {node.name} 127.0.0.1:{node.port} check inter 1s fall 3 rise 2" for node in nodes
    )
    return f"""global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 30s
    # a busy node answers /health late; only a dead one (refused connection) should leave the pool
    timeout check 10s
    option http-keep-alive
    retries 2
    option redispatch
    retry-on conn-failure empty-response response-timeout
frontend webhooks
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /health
{servers}
"""


# --- the run -----------------------------------------------------------------------------------
async def run(args: argparse.Namespace, procs: Procs) -> dict[str, Any]:
    LOGS.mkdir(parents=True, exist_ok=True)
    if shutil.which("haproxy") is None:
        raise SystemExit("HAProxy is needed: apt-get install haproxy (Debian's package)")
    fake = procs.start([PY, "-m", "bench.fake_twilio"], base_env(), LOGS / "scale-fake-twilio.log", stdout_pipe=True)
    line = fake.stdout.readline().decode().strip() if fake.stdout else ""
    twilio_url = f"http://127.0.0.1:{line.split()[1]}"
    db_name, database_url = create_pg_database()
    folder = Path(tempfile.mkdtemp(prefix="desmigras-scale-"))
    out: dict[str, Any] = {"nodes": args.nodes, "web_workers_per_node": args.web_workers, "rate": args.rate,
                           "seconds": args.seconds, "kill_at_s": args.kill_at, "lease_s": args.lease,
                           "separate_delivery": args.separate_delivery, "cpus": os.cpu_count()}
    nlu = None
    haproxy = None
    try:
        t0 = time.monotonic()
        nlu = await asyncio.to_thread(start_worker, socket_path=str(folder / "nlu.sock"),
                                      stderr=(LOGS / "scale-nlu.log").open("w"))
        out["nlu_worker_ready_s"] = round(time.monotonic() - t0, 1)
        lb_port = free_port()
        public = f"http://127.0.0.1:{lb_port}"
        nodes = []
        for i in range(args.nodes):
            port = free_port()
            env = base_env()
            env.update(
                DESMIGRAS_DATABASE_URL=database_url, DESMIGRAS_PUBLIC_URL=public, DESMIGRAS_HOST="127.0.0.1",
                DESMIGRAS_PORT=str(port), DESMIGRAS_WEB_WORKERS=str(args.web_workers), DESMIGRAS_NLU_WORKER=nlu.address,
                DESMIGRAS_WORKER_IN_WEB="0" if args.separate_delivery else "1", DESMIGRAS_OUTBOX_LEASE=str(args.lease),
                TWILIO_ACCOUNT_SID="AC" + "0" * 31 + "1", TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                TWILIO_WHATSAPP_FROM="whatsapp:+14155238886", TWILIO_API_URL=twilio_url,
            )
            nodes.append(Node(f"node{i + 1}", port, env))
        out["node_ready_s"] = [round(await start_node(procs, nodes[0], args.separate_delivery), 2)]  # migrates
        out["node_ready_s"] += [round(t, 2) for t in await asyncio.gather(
            *(start_node(procs, node, args.separate_delivery) for node in nodes[1:]))]
        config = folder / "haproxy.cfg"
        config.write_text(haproxy_config(lb_port, nodes))
        haproxy = procs.start(["haproxy", "-f", str(config), "-db"], base_env(), LOGS / "scale-haproxy.log")
        await wait_http(public + "/health", 30, haproxy)

        total = int(args.rate * args.seconds)
        requests = prepared_requests(total, OPEN_USERS * max(1, int(args.rate // 40)), f"127.0.0.1:{lb_port}", public)
        victim = nodes[min(1, len(nodes) - 1)]
        events: list[str] = []
        loop = asyncio.get_running_loop()

        def on_second(second: int) -> None:
            if args.kill_at and second == args.kill_at and victim.proc is not None:
                victim.cpu_of_dead += cpu_seconds([p for pid in victim.pids() for p in tree(pid)])
                os.killpg(victim.proc.pid, signal.SIGKILL)  # the whole node at once: no shutdown, its claims stay leased
                events.append(f"{second} s: SIGKILL {victim.name}")
            if args.kill_at and second == args.kill_at + args.restart_after:
                async def restart() -> None:
                    took = await start_node(procs, victim, args.separate_delivery)
                    events.append(f"{args.kill_at + args.restart_after} s: {victim.name} started again, ready in {took:.1f} s")
                loop.create_task(restart())

        def server_cpu() -> float:
            pids = [p for node in nodes for pid in node.pids() for p in tree(pid)] + [nlu.process.pid]
            return cpu_seconds(pids) + sum(node.cpu_of_dead for node in nodes)

        cpu_before, haproxy_before, machine_before = server_cpu(), cpu_seconds([haproxy.pid]), machine_busy_seconds()
        sent_before = outbox_counts(database_url).get("whatsapp:sent", 0)
        began = time.monotonic()
        outcome = await open_loop(requests, args.rate, "127.0.0.1", lb_port, on_second=on_second)
        window = time.monotonic() - began
        first_try = dict(sorted({str(s): outcome.status.count(s) for s in set(outcome.status)}.items()))
        resent = await resend_failed(requests, outcome, "127.0.0.1", lb_port)
        drained = await drain(database_url, max(300.0, 3 * args.lease))
        for node in nodes:
            node.peak_rss_mb = {str(pid): vm_hwm_mb(pid) for root in node.pids() for pid in tree(root)}
        server_s = server_cpu() - cpu_before
        latencies = [value for value in outcome.latency if value is not None]
        ok = outcome.status.count(200)
        async with httpx.AsyncClient() as client:
            sent = await twilio_sent(client, twilio_url)
        outbound = outbox_counts(database_url).get("whatsapp:sent", 0) - sent_before
        out.update({
            "events": events,
            "messages": total, "first_try_statuses": first_try, "resent": resent, "ok_in_the_end": ok,
            "achieved_rate_msg_s": round(sum(1 for s in outcome.status if s) / window, 1),
            "late_sends": outcome.late_sends, "peak_in_flight": outcome.peak_connections,
            "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95), "p99_ms": pct(latencies, 99),
            "drain_after_s": round(drained, 1),
            "cpu_ms_per_message": {
                "server": round(1000 * server_s / max(1, ok), 2),
                "haproxy": round(1000 * (cpu_seconds([haproxy.pid]) - haproxy_before) / max(1, ok), 2),
                "load_generator": round(1000 * outcome.client_cpu_s / max(1, total), 2),
                "machine": round(1000 * (machine_busy_seconds() - machine_before) / max(1, ok), 2),
            },
            "replies_per_message": round(outbound / max(1, ok), 2),
            "peak_rss_mb": {node.name: node.peak_rss_mb for node in nodes} | {"nlu_worker": vm_hwm_mb(nlu.process.pid)},
            "accounting": await asyncio.to_thread(accounting, database_url, sent, ok),
        })
        return out
    finally:
        if haproxy is not None:
            procs.stop(haproxy)
        procs.stop_all()
        if nlu is not None:
            nlu.stop()
        drop_pg_database(db_name)
        shutil.rmtree(folder, ignore_errors=True)


def report(out: dict[str, Any]) -> str:
    a = out["accounting"]
    lines = [
        f"{out['nodes']} node(s) x {out['web_workers_per_node']} web worker(s)"
        f"{' + a delivery process each' if out['separate_delivery'] else ' (delivery inside)'}, HAProxy, PostgreSQL, "
        f"one NLU worker; {out['cpus']} cores",
        f"open loop {out['rate']:.0f} msg/s for {out['seconds']:.0f} s: {out['messages']} messages, achieved "
        f"{out['achieved_rate_msg_s']} msg/s, late sends {out['late_sends']}, peak in flight {out['peak_in_flight']}",
        f"latency from the scheduled time: p50 {out['p50_ms']} ms, p95 {out['p95_ms']} ms, p99 {out['p99_ms']} ms",
        f"events: {'; '.join(out['events']) or 'none'}",
        f"first try: {out['first_try_statuses']}; sent again (as Twilio retries): {out['resent']}; 200 in the end: {out['ok_in_the_end']}",
        f"stored {a['inbound_stored']}, replies sent {a['outbox_sent']} of {a['outbox_rows']}, Twilio received "
        f"{a['twilio_received']}, lost {a['lost']}, duplicated {a['duplicated']}, still pending {a['still_pending']}, "
        f"drained {out['drain_after_s']} s after the end",
        f"CPU ms per message: server {out['cpu_ms_per_message']['server']} (web + delivery + NLU worker), "
        f"HAProxy {out['cpu_ms_per_message']['haproxy']}, load generator {out['cpu_ms_per_message']['load_generator']}, "
        f"whole machine {out['cpu_ms_per_message']['machine']}; {out['replies_per_message']} replies per message",
        f"ready: NLU worker {out['nlu_worker_ready_s']} s; web nodes {out['node_ready_s']} s",
        f"peak RSS MB: {json.dumps(out['peak_rss_mb'])}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--web-workers", type=int, default=1, help="uvicorn workers per node")
    parser.add_argument("--separate-delivery", action="store_true", help="a `python -m bot.delivery` per node")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--kill-at", type=int, default=40, help="second of the run at which one node gets SIGKILL (0: none)")
    parser.add_argument("--restart-after", type=int, default=10)
    parser.add_argument("--lease", type=float, default=15.0, help="DESMIGRAS_OUTBOX_LEASE of the nodes")
    parser.add_argument("--out", default=str(ROOT / "reports" / "scale_out.json"))
    args = parser.parse_args()
    procs = Procs()
    try:
        out = asyncio.run(run(args, procs))
    finally:
        procs.stop_all()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(report(out))
    print(f"\nfigures: {args.out}; logs: var/bench-logs/scale-*.log")


if __name__ == "__main__":
    main()
