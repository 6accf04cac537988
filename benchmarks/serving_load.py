"""The load generator of ``benchmarks/serving.py``: a closed loop over raw keep-alive HTTP/1.1
connections, in a process of its own so that it shares no interpreter lock with what it measures.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import time
from collections import Counter
from typing import Any

# --- the load generator (runs in its own process) ----------------------------------------

Item = tuple[str, bytes, bool]
"""One request to send: its kind (``good``, ``malformed``...), its bytes on the wire, and whether
it asks the server to close the connection after answering."""


def item(kind: str, data: bytes) -> Item:
    return kind, data, b"\r\nConnection: close\r\n" in data.partition(b"\r\n\r\n")[0]


def http_post(
    port: int,
    path: str,
    body: bytes,
    *,
    content_type: str = "application/json",
    api_key: str | None = None,
    declared_length: int | None = None,
    close: bool = False,
    accept: str | None = None,
) -> bytes:
    """A whole HTTP/1.1 POST, ready to write to a socket. ``declared_length`` announces a body
    that is not sent (an oversized request refused from its headers alone)."""
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body) if declared_length is None else declared_length}",
    ]
    if api_key:
        head.append(f"Authorization: Bearer {api_key}")
    if close:
        head.append("Connection: close")
    if accept:
        head.append(f"Accept: {accept}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection of a closed loop: send, read the whole answer, send again."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.need = -1
        self.chunked = False
        self.keep_alive = True
        self.status = 0
        self.kind = ""
        self.sent_ns = 0
        self.busy = False
        self.closing = False
        self.closes = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.run.issue(self)

    def send(self, item: Item) -> None:
        assert self.transport is not None
        self.kind, data, self.closes = item
        self.buffer.clear()
        self.need = -1
        self.busy = True
        self.sent_ns = time.perf_counter_ns()
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.need < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            self.status = int(head[9:12])
            self.keep_alive = b"\r\nconnection: close" not in head
            start = head.find(b"\r\ncontent-length:")
            self.chunked = start < 0 and b"\r\ntransfer-encoding: chunked" in head
            if start >= 0:
                stop = head.find(b"\r\n", start + 2)
                self.need = end + 4 + int(head[start + 17 : stop if stop > 0 else None])
            else:
                self.need = end + 4
        if self.chunked:
            if not buffer.endswith(b"\r\n0\r\n\r\n"):
                return
        elif len(buffer) < self.need:
            return
        self.busy = False
        self.run.done(self, time.perf_counter_ns())

    def connection_lost(self, exc: Exception | None) -> None:
        self.run.lost(self, exc)


class _Run:
    """The state of one bounded, closed-loop run."""

    def __init__(self, loop: asyncio.AbstractEventLoop, spec: dict[str, Any]) -> None:
        self.loop = loop
        self.port: int = spec["port"]
        self.items: list[Item] = spec["items"]
        self.concurrency: int = spec["concurrency"]
        self.requests: int | None = spec.get("requests")
        self.warmup_requests: int = spec.get("warmup_requests", 0)
        now = time.perf_counter_ns()
        self.warmup_end = now + int(spec["warmup"] * 1e9)
        self.stop_at = self.warmup_end + int(spec["duration"] * 1e9)
        self.window_start: int | None = None if self.requests else self.warmup_end
        self.last_done = 0
        self.cursor = random.Random(0).randrange(len(self.items))
        self.completed = 0
        self.measured_issued = 0
        self.latencies: dict[str, list[int]] = {}
        self.statuses: dict[str, Counter[int]] = {}
        self.errors: Counter[str] = Counter()
        self.reconnects = 0
        self.open = 0
        self.finished = loop.create_future()

    # pacing --------------------------------------------------------------------------------

    def _stopping(self, now: int) -> bool:
        if self.requests:
            return self.measured_issued >= self.requests or now >= self.stop_at
        return now >= self.stop_at

    def issue(self, conn: _Connection) -> None:
        now = time.perf_counter_ns()
        if self._stopping(now):
            self._close(conn)
            return
        if self.requests and self.window_start is not None:
            self.measured_issued += 1
        item = self.items[self.cursor % len(self.items)]
        self.cursor += 1
        conn.send(item)

    def done(self, conn: _Connection, now: int) -> None:
        self.completed += 1
        if self.requests:
            measured = self.window_start is not None and conn.sent_ns >= self.window_start
            if self.window_start is None and (
                now >= self.warmup_end and self.completed >= self.warmup_requests
            ):
                self.window_start = now
        else:
            measured = self.warmup_end <= now < self.stop_at
        if measured:
            self.latencies.setdefault(conn.kind, []).append(now - conn.sent_ns)
            self.statuses.setdefault(conn.kind, Counter())[conn.status] += 1
            self.last_done = now
        if conn.keep_alive and not conn.closes:
            self.issue(conn)
        else:
            self._close(conn)
            if not self._stopping(now):
                self.reconnects += 1
                self.connect()

    def lost(self, conn: _Connection, exc: Exception | None) -> None:
        self.open -= 1
        now = time.perf_counter_ns()
        if conn.busy:  # the server closed (or reset) the connection before answering
            self.errors[f"closed before the answer ({type(exc).__name__ if exc else 'EOF'})"] += 1
        if not conn.closing and not self._stopping(now):  # closed by the server: replace it
            self.connect()
        if self.open == 0 and self._stopping(now):
            if not self.finished.done():
                self.finished.set_result(None)

    def _close(self, conn: _Connection) -> None:
        conn.busy = False
        conn.closing = True
        if conn.transport is not None:
            conn.transport.close()

    def connect(self) -> None:
        self.open += 1
        self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        for _attempt in range(100):
            try:
                await self.loop.create_connection(lambda: _Connection(self), "127.0.0.1", self.port)
                return
            except OSError as exc:
                self.errors[f"connect failed ({type(exc).__name__})"] += 1
                await asyncio.sleep(0.01)
        self.open -= 1
        if self.open == 0 and not self.finished.done():
            self.finished.set_result(None)

    # result --------------------------------------------------------------------------------

    def result(self) -> dict[str, Any]:
        end = self.last_done if self.requests else self.stop_at
        start = self.window_start or end
        seconds = max((end - start) / 1e9, 1e-9)
        kinds = {}
        for kind, values in self.latencies.items():
            values.sort()
            kinds[kind] = {
                "count": len(values),
                "per_second": len(values) / seconds,
                "p50_ms": _percentile(values, 0.50) / 1e6,
                "p90_ms": _percentile(values, 0.90) / 1e6,
                "p99_ms": _percentile(values, 0.99) / 1e6,
                "max_ms": values[-1] / 1e6,
                "mean_ms": sum(values) / len(values) / 1e6,
                "statuses": {str(k): v for k, v in sorted(self.statuses[kind].items())},
            }
        return {
            "seconds": seconds,
            "concurrency": self.concurrency,
            "kinds": kinds,
            "errors": dict(self.errors),
            "reconnects": self.reconnects,
        }


def _percentile(ordered: list[int], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return math.nan
    return float(ordered[max(0, math.ceil(q * len(ordered)) - 1)])


async def _drive(spec: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    run = _Run(loop, spec)
    for _ in range(run.concurrency):
        run.connect()
    hard_stop = spec["warmup"] + spec["duration"] + spec.get("grace", 60.0)
    try:
        await asyncio.wait_for(asyncio.shield(run.finished), hard_stop)
    except TimeoutError:
        run.errors["timed out (run aborted)"] += 1
    return run.result()


def _loadgen_main(pipe: Any) -> None:
    """The load generator's process: one run per spec received, its result sent back."""
    try:
        import uvloop  # the same event loop as the server, when it is there

        new_loop = uvloop.new_event_loop
    except ImportError:
        new_loop = asyncio.new_event_loop
    while True:
        spec = pipe.recv()
        if spec is None:
            return
        loop = new_loop()
        try:
            pipe.send(loop.run_until_complete(_drive(spec)))
        finally:
            loop.close()


class LoadGenerator:
    """A load-generator process started once and reused for every run."""

    def __init__(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_loadgen_main, args=(child,), daemon=True)
        self._process.start()

    def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        self._pipe.send(spec)
        return dict(self._pipe.recv())

    def close(self) -> None:
        self._pipe.send(None)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
