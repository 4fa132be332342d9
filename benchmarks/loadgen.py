"""A small HTTP load generator: N clients sending requests back to back for a fixed time.

    echo '{"url": "http://127.0.0.1:8000", "clients": 10, ...}' | python -m benchmarks.loadgen

It runs in a process of its own (`run_load` starts it), on asyncio with raw HTTP/1.1, so it
takes one core's fraction and no thread switching from the server it measures; it imports
nothing but the standard library. Each client opens a connection, sends one request, reads the
whole answer, and sends the next at once; it keeps the connection while the server does
(one that closes it after an answer, as gunicorn's sync workers do, makes the client connect
again, and the connection's set-up is then part of the request's time, as it is for a phone).

The spec (JSON on stdin): `url`; `clients`; `warmup` and `duration` in seconds; `requests`, a
list of {method, path, headers, body} sent in turn (client k's i-th request is the
(offset + sequence number)-th of the list, wrapping), where "{n}" in a body or header is
replaced by that number, so every request can carry its own idempotency key; `offset`;
`client_headers`, a list of headers added to client k's requests (the (k mod length)-th: a
session cookie of its own). A request counts when it was answered after the warm-up and before
the end (a closed loop's throughput: answers per second while every client is busy). The answer
(JSON on stdout): the latencies in milliseconds, the statuses, the errors (non-2xx answers and
failed connections), how many requests were sent in all, and the share of one core the
generator itself used.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from urllib.parse import urlsplit


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) of ascending `sorted_values`, by the nearest rank."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def summary(result: dict) -> dict:
    """Throughput (requests per second) and p50/p95/p99 (ms) of one load's answer."""
    latencies = sorted(result["latencies_ms"])
    return {
        "requests": len(latencies),
        "errors": result["errors"],
        "throughput": len(latencies) / result["duration"],
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
    }


def _request_bytes(host: str, template: dict, n: int, extra: dict) -> bytes:
    body = template.get("body", "").replace("{n}", str(n)).encode()
    lines = [f"{template['method']} {template['path']} HTTP/1.1", f"Host: {host}"]
    headers = {**template["headers"], **extra}
    lines += [f"{k}: {str(v).replace('{n}', str(n))}" for k, v in headers.items()]
    if body or template["method"] in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one whole answer; (status, whether the server closes the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = {}
    for line in header_lines:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip().lower()
    close = headers.get("connection") == "close" or status_line.startswith("HTTP/1.0")
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.read()
        close = True
    return status, close


async def _client(spec: dict, number: int, clock: dict, out: dict) -> None:
    parts = urlsplit(spec["url"])
    templates = spec["requests"]
    own = spec["client_headers"][number % len(spec["client_headers"])]
    reader = writer = None
    while True:
        start = time.perf_counter()
        if start >= clock["end"]:
            break
        n = spec["offset"] + out["issued"]
        out["issued"] += 1
        request = _request_bytes(parts.netloc, templates[n % len(templates)], n, own)
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            writer.write(request)
            status, close = await _read_answer(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            status, close = 0, True
        finished = time.perf_counter()
        if close and writer is not None:
            writer.close()
            reader = writer = None
        if clock["measured_from"] <= finished <= clock["end"]:
            out["statuses"][status] += 1
            if 200 <= status < 300:
                out["latencies_ms"].append((finished - start) * 1000)
            else:
                out["errors"] += 1
    if writer is not None:
        writer.close()


async def _load(spec: dict) -> dict:
    now, cpu = time.perf_counter(), time.process_time()
    clock = {"measured_from": now + spec["warmup"], "end": now + spec["warmup"] + spec["duration"]}
    out = {"latencies_ms": [], "statuses": Counter(), "errors": 0, "issued": 0}
    await asyncio.gather(*(_client(spec, k, clock, out) for k in range(spec["clients"])))
    return {
        "clients": spec["clients"],
        "duration": spec["duration"],
        "latencies_ms": [round(ms, 3) for ms in out["latencies_ms"]],
        "statuses": {str(k): v for k, v in sorted(out["statuses"].items())},
        "errors": out["errors"],
        "issued": out["issued"],
        # This process's own CPU time: what the measuring took from the server's cores.
        "cpu_share": (time.process_time() - cpu) / (time.perf_counter() - now),
    }


def run_load(spec: dict) -> dict:
    """Run one load in a process of its own (this module as a script); its answer."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.loadgen"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr}")
    return json.loads(done.stdout)


def main() -> int:
    """Read the spec from stdin, run the load, print the answer."""
    spec = {"warmup": 1.0, "duration": 5.0, "offset": 0, "client_headers": [{}]}
    spec |= json.load(sys.stdin)
    json.dump(asyncio.run(_load(spec)), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
