"""A WSGI app in gunicorn on a database: what the load benchmarks serve and what the tests that
need a real server start (tests/servers.py imports it from here)."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recovery import ROOT


class ServerError(RuntimeError):
    """The server did not start, or did not stop; the message holds its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gunicorn:
    """`app` (by default `wsgi:app`, the application) in gunicorn on `database_url`, in a
    process group of its own (the master and its workers), so a caller can kill it whole and
    start it again on the same port.

    It serves as production does, with the repository's gunicorn.conf.py (threaded workers,
    the app loaded before the fork, the access log without patients' links); `workers`, the
    port and the heartbeat directory are the caller's.

    `certificate` (certificate, key) serves HTTPS. The log goes to `log_dir`/gunicorn.log
    (each start appends; `log_name` names another file) and is shown if the server does not
    answer /healthz within `start_seconds`.
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
        app: str = "wsgi:app",
        log_name: str = "gunicorn.log",
        start_seconds: float = 10,
    ):
        self.port = free_port()
        self.scheme = "https" if certificate else "http"
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        command = [str(Path(sys.executable).parent / "gunicorn")]
        command += ["--config", str(ROOT / "gunicorn.conf.py"), "--workers", str(workers)]
        command += ["--bind", f"127.0.0.1:{self.port}", "--worker-tmp-dir", str(log_dir)]
        if certificate:
            command += ["--certfile", str(certificate[0]), "--keyfile", str(certificate[1])]
        command.append(app)
        self.command = command
        self.environment = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": secret_key,
            **(env or {}),
        }
        self.log_path = log_dir / log_name
        self.trust = ssl.create_default_context(cafile=str(certificate[0])) if certificate else None
        self.start_seconds = start_seconds
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
        for _ in range(round(self.start_seconds * 10)):
            if self.healthy():
                return self.url
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"gunicorn did not start: {self.log_path.read_text()}")

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
        raise ServerError(f"gunicorn's workers did not end: {self.log_path.read_text()}")


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
    """Run `wsgi:app` (or `app=`) in gunicorn on `database_url` (`Gunicorn`'s options);
    yields its base URL, stops it after."""
    server = Gunicorn(database_url, log_dir, **options)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
