"""Real servers for tests: the app in gunicorn, an SMTP server, a webhook receiver."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from recovery import ROOT


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(
    database_url: str,
    log_dir: Path,
    *,
    workers: int = 2,
    secret_key: str = "server-test",
    certificate: tuple[Path, Path] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Run `wsgi:app` in gunicorn on `database_url`; yields its base URL, stops it after.

    `certificate` (certificate, key) serves HTTPS. The log goes to `log_dir`/gunicorn.log and
    is shown if the server does not answer /healthz within ten seconds.
    """
    port = free_port()
    scheme = "https" if certificate else "http"
    command = [str(Path(sys.executable).parent / "gunicorn"), "--workers", str(workers)]
    command += ["--bind", f"127.0.0.1:{port}", "--worker-tmp-dir", str(log_dir)]
    if certificate:
        command += ["--certfile", str(certificate[0]), "--keyfile", str(certificate[1])]
    command.append("wsgi:app")
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secret_key,
        **(env or {}),
    }
    log_path = log_dir / "gunicorn.log"
    url = f"{scheme}://127.0.0.1:{port}"
    trust = ssl.create_default_context(cafile=str(certificate[0])) if certificate else None
    with log_path.open("w") as log:
        server = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            for _ in range(100):
                try:
                    with urllib.request.urlopen(f"{url}/healthz", timeout=1, context=trust) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.1)
            else:
                pytest.fail(f"gunicorn did not start: {log_path.read_text()}")
            yield url
        finally:
            server.terminate()
            server.wait(timeout=10)


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
