"""A real HTTP webhook receiver on 127.0.0.1 for tests: each path scripts its answers."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """`script[path]` is a list of (status, headers, delay_s) answers; the last one repeats. `bodies[path]`: what
    it answers with (default `ok`). `host`: the address it listens on."""

    port: int
    script: dict[str, list[tuple[int, dict[str, str], float]]] = field(default_factory=dict)
    bodies: dict[str, bytes] = field(default_factory=dict)
    host: str = "127.0.0.1"
    requests: list[Request] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def received(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                                 time.monotonic()))  # fmt: skip
                answers = receiver.script.get(self.path, [(200, {}, 0.0)])
                n = len(receiver.received(self.path)) - 1
                status, headers, delay = answers[min(n, len(answers) - 1)]
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    answer = receiver.bodies.get(self.path, b"ok")
                    self.send_header("content-length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client gave up (timeout)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
