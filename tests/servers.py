"""The app served as in production: gunicorn worker processes on a test's database."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
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
