"""Real servers for tests: the app in gunicorn (benchmarks.servers, shared with the load
benchmarks), an SMTP server, a webhook receiver."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Re-exported for the tests that start the app in gunicorn.
from benchmarks.servers import Gunicorn as Gunicorn
from benchmarks.servers import free_port
from benchmarks.servers import gunicorn as gunicorn


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 and this host's name, written into
    `directory`: (certificate, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    names = f"subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:{socket.gethostname()}"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", names]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class Mailbox:
    """What a test SMTP server received: one `EmailMessage` per message, in order, and
    whether each came over TLS."""

    messages: list = field(default_factory=list)
    encrypted: list = field(default_factory=list)
    #: Seconds the server waits before accepting each message (a slow server).
    delay: float = 0.0
    #: Called with each message as it arrives (a test's hook, e.g. to move its clock on).
    on_message: Callable | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        if self.delay:
            await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(message)
        self.encrypted.append(session.ssl is not None)
        if self.on_message:
            self.on_message(message)
        return "250 OK"


@contextmanager
def smtp_server(
    port: int | None = None,
    delay: float = 0.0,
    *,
    host: str = "127.0.0.1",
    certificate: tuple[Path, Path] | None = None,
) -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on `host`; yields its mailbox and port. With
    `certificate`, it offers STARTTLS and takes mail only after it."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox(delay=delay)
    tls = {}
    if certificate:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(certificate[0]), str(certificate[1]))
        tls = {"tls_context": context, "require_starttls": True}
    controller = Controller(mailbox, hostname=host, port=port or free_port(), **tls)
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()


@dataclass
class Webhook:
    """What a test HTTP server received: (path, JSON body) per POST, and the status it
    answers with (a test may change it, e.g. to 500)."""

    posts: list = field(default_factory=list)
    status: int = 200


@contextmanager
def webhook_server() -> Iterator[tuple[Webhook, int]]:
    """A local HTTP server that records JSON posts, as Apprise's json:// sends them; yields
    the record and the port."""
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if hook.status == 200:
                hook.posts.append((self.path, json.loads(body or b"{}")))
            self.send_response(hook.status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
