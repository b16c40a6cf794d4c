"""What the lab's hosts do, one role per process, run inside a host's namespace by the harness.

    python3 tests/lab/actors.py ROLE [options]

Benign roles: browse (a person on the web), update-check (vendor software polling for updates), monitor (a
monitoring server polling hosts). The beacon roles are a stand-in for a C2 implant (there is no Metasploit
or Sliver in Debian): a client built on a real HTTP library (requests) or a real WebSocket library
(websockets) that checks in with one external server every `sleep` seconds, minus a random part of up to
`jitter` of it (Cobalt Strike's convention), sends small check-ins, and now and then a larger task result.
The two c2-*server roles are the matching servers in the internet namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import ssl
import subprocess
import sys
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

warnings.filterwarnings("ignore")  # self-signed lab certificates: clients do not verify them


def pause(rng: random.Random, low: float, high: float, until: float) -> bool:
    """Sleep a random time; False once the deadline has passed."""
    time.sleep(rng.uniform(low, high))
    return time.time() < until


def cs_interval(rng: random.Random, sleep: float, jitter: float) -> float:
    """Cobalt Strike's jitter: the sleep shortened by a random part of up to `jitter` (0..1) of it."""
    return sleep * (1.0 - rng.uniform(0.0, jitter))


# --- benign -------------------------------------------------------------------------------------------------
def browse(args: argparse.Namespace) -> None:
    import requests

    rng = random.Random(args.seed)
    sites = args.sites.split(",")
    until = time.time() + args.duration
    while time.time() < until:
        site = rng.choice(sites)
        path = rng.choice(
            [f"/page{rng.randint(1, 20)}.html"] * 6 + ["/downloads/tool-40kb.bin", "/downloads/tool-120kb.bin", "/"]
        )
        scheme = "https" if rng.random() < 0.8 else "http"
        try:
            with requests.Session() as session:  # a page load: one connection, a few requests
                for _ in range(rng.randint(1, 3)):
                    session.get(f"{scheme}://{site}{path}", timeout=10, verify=False)
                    path = f"/page{rng.randint(1, 20)}.html"
        except requests.RequestException:
            pass
        if not pause(rng, args.min_gap, args.max_gap, until):
            break


def update_check(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    until = time.time() + args.duration
    time.sleep(rng.uniform(0, args.every))  # hosts boot at different times
    while time.time() < until:
        if args.tool == "wget":
            command = ["wget", "-q", "-O", "/dev/null", "--no-check-certificate", args.url]
        else:
            command = ["curl", "-s", "-k", "-o", "/dev/null", "-A", "VendorSoft-Updater/4.12", args.url]
        subprocess.run(command, timeout=30, check=False)
        if not pause(rng, args.every * (1 - args.jitter), args.every * (1 + args.jitter), until):
            break


def monitor(args: argparse.Namespace) -> None:
    import requests

    rng = random.Random(args.seed)
    until = time.time() + args.duration
    while time.time() < until:
        for target in args.ping.split(","):
            subprocess.run(["ping", "-c", "1", "-W", "1", target], capture_output=True, check=False)
        for url in args.http.split(","):
            with contextlib.suppress(requests.RequestException):
                requests.get(url, timeout=5)
        if not pause(rng, args.every - 0.5, args.every + 0.5, until):
            break


# --- the C2 stand-in --------------------------------------------------------------------------------------
def c2_server(args: argparse.Namespace) -> None:
    rng = random.Random(7)

    class Handler(BaseHTTPRequestHandler):
        server_version = "nginx"
        sys_version = ""

        def log_message(self, *_: object) -> None:
            pass

        def _reply(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            task = {"task": "collect", "id": rng.randint(1, 99999)} if rng.random() < 0.15 else {"task": None}
            self._reply(json.dumps(task).encode())

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self._reply(b'{"ok":true}')

    def serve(port: int, tls: bool) -> None:
        httpd = ThreadingHTTPServer((args.bind, port), Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(args.cert, args.key)
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        httpd.serve_forever()

    import threading

    threading.Thread(target=serve, args=(80, False), daemon=True).start()
    serve(443, True)


def beacon(args: argparse.Namespace) -> None:
    import requests

    rng = random.Random(args.seed)
    until = time.time() + args.duration
    agent_id = f"{rng.getrandbits(64):016x}"
    headers = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"}
    pending = None
    while time.time() < until:
        try:
            # A fresh connection per check-in, as most HTTP implants do between sleeps.
            reply = requests.get(
                f"{args.url}/api/v2/sync", params={"id": agent_id}, headers=headers, timeout=10, verify=False
            )
            task = reply.json().get("task")
            if pending is not None:
                result = os.urandom(rng.randint(4_000, 24_000)).hex()
                requests.post(f"{args.url}/api/v2/result", data=result, headers=headers, timeout=10, verify=False)
                pending = None
            if task:
                pending = task
        except requests.RequestException:
            pass
        time.sleep(cs_interval(rng, args.sleep, args.jitter))


def c2_ws_server(args: argparse.Namespace) -> None:
    from websockets.asyncio.server import serve

    rng = random.Random(11)

    async def handler(connection) -> None:
        async for message in connection:
            if len(message) < 400:
                task = {"task": "collect", "id": rng.randint(1, 99999)} if rng.random() < 0.15 else {"task": None}
                await connection.send(json.dumps(task))
            else:
                await connection.send('{"ok":true}')

    async def main() -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        async with serve(handler, args.bind, 443, ssl=context, ping_interval=None):
            await asyncio.Future()

    asyncio.run(main())


def ws_beacon(args: argparse.Namespace) -> None:
    from websockets.asyncio.client import connect

    rng = random.Random(args.seed)

    async def main() -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        until = time.time() + args.duration
        agent_id = f"{rng.getrandbits(64):016x}"
        # One long-lived connection for the whole session: check-ins are bursts inside a single flow.
        async with connect(args.url, ssl=context, ping_interval=None) as connection:
            pending = False
            while time.time() < until:
                await connection.send(json.dumps({"id": agent_id, "t": int(time.time())}))
                reply = json.loads(await connection.recv())
                if pending:
                    await connection.send(os.urandom(rng.randint(4_000, 24_000)).hex())
                    await connection.recv()
                    pending = False
                pending = bool(reply.get("task"))
                await asyncio.sleep(cs_interval(rng, args.sleep, args.jitter))

    asyncio.run(main())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("role")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--sites", default="")
    parser.add_argument("--min-gap", type=float, default=2)
    parser.add_argument("--max-gap", type=float, default=15)
    parser.add_argument("--url", default="")
    parser.add_argument("--tool", default="curl")
    parser.add_argument("--every", type=float, default=60)
    parser.add_argument("--jitter", type=float, default=0.2)
    parser.add_argument("--sleep", type=float, default=5)
    parser.add_argument("--ping", default="")
    parser.add_argument("--http", default="")
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--cert", default="")
    parser.add_argument("--key", default="")
    args = parser.parse_args(argv)
    roles = {
        "browse": browse,
        "update-check": update_check,
        "monitor": monitor,
        "c2-server": c2_server,
        "beacon": beacon,
        "c2-ws-server": c2_ws_server,
        "ws-beacon": ws_beacon,
    }
    if args.role not in roles:
        sys.exit(f"unknown role {args.role!r}; known: {', '.join(roles)}")
    roles[args.role](args)


if __name__ == "__main__":
    main()
