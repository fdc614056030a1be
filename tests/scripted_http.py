"""A scripted HTTP source on loopback, for tests of what the pipeline does with bad servers:
per path, a list of replies served in order (the last one repeats), each with a status, a body,
an optional delay (timeouts) and an optional missing Content-Length (truncated bodies).

Like raw.githubusercontent.com, a 200 carries an ETag (a hash of its body), and a GET whose
If-None-Match names it is answered 304 Not Modified with no body (RFC 9110 section 13.1.2)."""

from __future__ import annotations

import collections
import contextlib
import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0
    content_length: bool = True
    reason: str | None = None


@dataclass
class ScriptedServer:
    base_url: str
    routes: dict[str, list[Reply]] = field(default_factory=dict)
    hits: collections.Counter = field(default_factory=collections.Counter)
    body_bytes: collections.Counter = field(default_factory=collections.Counter)  # body bytes sent, per path
    requests: dict[str, list[dict[str, str]]] = field(default_factory=lambda: collections.defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, path: str, *replies: Reply) -> str:
        """Serve the replies in order on path; the last one repeats. Returns the URL."""
        self.routes[path] = list(replies)
        return self.base_url + path

    def next_reply(self, path: str, headers: dict[str, str]) -> Reply:
        with self.lock:
            self.hits[path] += 1
            self.requests[path].append(headers)
            replies = self.routes.get(path) or [Reply(404, b"no such path")]
            return replies.pop(0) if len(replies) > 1 else replies[0]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802
        scripted = self.server.scripted  # type: ignore[attr-defined]
        reply = scripted.next_reply(self.path, dict(self.headers))
        if reply.delay:
            time.sleep(reply.delay)
        etag = f'"{hashlib.sha256(reply.body).hexdigest()[:32]}"' if reply.status == 200 else None
        asked = [tag.strip().removeprefix("W/") for tag in self.headers.get("If-None-Match", "").split(",")]
        not_modified = etag is not None and (etag in asked or "*" in asked)
        self.send_response(304 if not_modified else reply.status, None if not_modified else reply.reason)
        if etag:
            self.send_header("ETag", etag)
        body = b"" if not_modified else reply.body
        if not not_modified:
            self.send_header("Content-Type", "application/json")
            if reply.content_length:
                self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with scripted.lock:
            scripted.body_bytes[self.path] += len(body)

    def log_message(self, *args: Any) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # e.g. a broken pipe after the client gave up at its timeout


@contextlib.contextmanager
def serve() -> Iterator[ScriptedServer]:
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    scripted = ScriptedServer(base_url=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.scripted = scripted  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield scripted
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
