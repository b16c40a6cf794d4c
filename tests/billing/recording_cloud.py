"""A stand-in for the vendor cloud on loopback that records every byte each request carried.

It reads requests off the socket itself (no HTTP library between the wire and the record), so what it
keeps is exactly what left the box. Heartbeats get a well-formed `HeartbeatReply`; anything else a 404.
"""

from __future__ import annotations

import json
import socketserver
import threading
from typing import Self


class RecordingCloud:
    def __init__(self, latest_sensor_version: str = "9.9.9") -> None:
        self.requests: list[bytes] = []
        self._lock = threading.Lock()
        self._latest = latest_sensor_version
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def everything_sent(self) -> bytes:
        with self._lock:
            return b"".join(self.requests)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _answer(self, head: bytes, body: bytes) -> tuple[int, dict]:
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        if request_line.startswith("POST /v1/heartbeat "):
            sent = json.loads(body)
            return 200, {
                "license_id": sent["license_id"],
                "revoked": False,
                "license_key": None,
                "update": {"latest_sensor_version": self._latest, "latest_appliance_version": "0.1.0"},
            }
        return 404, {"detail": "not served by the recording cloud"}

    def _handler_class(self) -> type[socketserver.StreamRequestHandler]:
        cloud = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while True:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = self.rfile.readline()
                        if not line:
                            return
                        head += line
                    length = next(
                        (
                            int(line.split(b":", 1)[1])
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length:")
                        ),
                        0,
                    )
                    body = self.rfile.read(length)
                    with cloud._lock:
                        cloud.requests.append(head + body)
                    status, answer = cloud._answer(head, body)
                    data = json.dumps(answer).encode()
                    self.wfile.write(
                        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(data)}\r\n\r\n".encode()
                        + data
                    )
                    self.wfile.flush()

        return Handler
