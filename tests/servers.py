"""Real servers for tests: the app in gunicorn, an SMTP server, a webhook receiver."""

from __future__ import annotations

import asyncio
import json
import os
import signal
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


class Gunicorn:
    """`wsgi:app` in gunicorn on `database_url`, in a process group of its own (the master and
    its workers), so a test can kill it whole and start it again on the same port.

    It serves as production does, with the repository's gunicorn.conf.py (threaded workers,
    the app loaded before the fork, the access log without patients' links); `workers`, the
    port and the heartbeat directory are this test's.

    `certificate` (certificate, key) serves HTTPS. The log goes to `log_dir`/gunicorn.log
    (each start appends) and is shown if the server does not answer /healthz within ten
    seconds.
    """

    def __init__(
        self,
        database_url: str,
        log_dir: Path,
        *,
        workers: int = 2,
        secret_key: str = "server-test",
        certificate: tuple[Path, Path] | None = None,
        env: dict[str, str] | None = None,
    ):
        self.port = free_port()
        self.scheme = "https" if certificate else "http"
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        command = [str(Path(sys.executable).parent / "gunicorn")]
        command += ["--config", str(ROOT / "gunicorn.conf.py"), "--workers", str(workers)]
        command += ["--bind", f"127.0.0.1:{self.port}", "--worker-tmp-dir", str(log_dir)]
        if certificate:
            command += ["--certfile", str(certificate[0]), "--keyfile", str(certificate[1])]
        command.append("wsgi:app")
        self.command = command
        self.environment = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": secret_key,
            **(env or {}),
        }
        self.log_path = log_dir / "gunicorn.log"
        self.trust = ssl.create_default_context(cafile=str(certificate[0])) if certificate else None
        self.process: subprocess.Popen | None = None

    def start(self) -> str:
        """Start the server and wait until /healthz answers 200; its base URL."""
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() reaches every worker
            )
        for _ in range(100):
            if self.healthy():
                return self.url
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"gunicorn did not start: {self.log_path.read_text()}")

    def healthy(self) -> bool:
        """Whether /healthz answers 200 now."""
        try:
            with urllib.request.urlopen(
                f"{self.url}/healthz", timeout=1, context=self.trust
            ) as response:
                return response.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL the master and every worker at once, as a power cut or the OOM killer
        would: nothing is finished, flushed or rolled back by the server."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._wait_for_group_to_end()

    def stop(self) -> None:
        """Stop the server as a service manager would (SIGTERM), and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self._wait_for_group_to_end()

    def _wait_for_group_to_end(self) -> None:
        """Wait until no process of the group is left running (workers may outlive a killed
        master for a moment)."""
        assert self.process is not None
        for _ in range(100):
            if not running_in_group(self.process.pid):
                return
            time.sleep(0.05)
        pytest.fail(f"gunicorn's workers did not end: {self.log_path.read_text()}")


def running_in_group(group: int) -> list[int]:
    """The ids of the processes of process group `group` still running (not zombies, which
    are gone but for their exit status), read from /proc."""
    running = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
            state, _ppid, pgrp = stat.read_text().rpartition(")")[2].split()[:3]
        except (OSError, ValueError):
            continue  # ended while being read
        if int(pgrp) == group and state != "Z":
            running.append(int(stat.parent.name))
    return running


@contextmanager
def gunicorn(database_url: str, log_dir: Path, **options) -> Iterator[str]:
    """Run `wsgi:app` in gunicorn on `database_url` (`Gunicorn`'s options); yields its base
    URL, stops it after."""
    server = Gunicorn(database_url, log_dir, **options)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


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
