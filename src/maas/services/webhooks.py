"""Webhook deliveries: signed JSON POSTs sent by a background thread, retried, recorded.

``send`` only puts the event on a bounded queue (it never blocks a request; a full queue drops
the event with a log line). One daemon thread delivers: a short timeout, a few attempts with
exponential backoff on connection errors, timeouts, 429 and 5xx, redirects not followed, and
the outcome of every delivery written to ``webhook_deliveries``. Unless private addresses are
allowed, the host is resolved before each delivery and refused when any of its addresses is
loopback, private or link-local (see docs/security.md for what this does and does not stop).
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from maas.domain.webhooks import SIGNATURE_HEADER, is_public_address, sign
from maas.store.db import Database
from maas.store.monitoring import DeliveryRecord, add_delivery

__all__ = ["WebhookEvent", "WebhookSender"]

log = logging.getLogger(__name__)

Resolver = Callable[[str], list[str]]
"""Host name → its IP addresses."""


def _resolve(host: str) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    model_id: int
    url: str
    secret: str
    event: str
    data: dict[str, Any]


class WebhookSender:
    """Delivers webhook events in the background; ``deliver`` does one synchronously."""

    def __init__(
        self,
        db: Database,
        *,
        allow_private: bool = False,
        timeout: float = 5.0,
        attempts: int = 3,
        backoff: float = 0.5,
        max_queued: int = 1000,
        transport: httpx.BaseTransport | None = None,
        resolver: Resolver = _resolve,
        user_agent: str = "maas-webhooks",
    ) -> None:
        self.db = db
        self.allow_private = allow_private
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.resolver = resolver
        self.user_agent = user_agent
        self._transport = transport
        self._queue: queue.Queue[WebhookEvent] = queue.Queue(maxsize=max_queued)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(self, event: WebhookEvent) -> None:
        """Queue ``event`` for delivery (never blocks)."""
        with self._lock:
            if self._stop.is_set():
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="maas-webhooks", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            log.warning("webhook queue full: event %s for %s dropped", event.event, event.url)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event was delivered or given up; whether that happened."""
        done = threading.Event()

        def watch() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=watch, daemon=True).start()
        return done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking events; give queued ones ``timeout`` seconds, then stop the thread."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            self.wait_idle(timeout)
        self._stop.set()
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                event = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self.record(event, self.deliver(event))
            except Exception:  # noqa: BLE001 - one bad delivery must not stop the others
                log.exception("webhook delivery to %s failed", event.url)
            finally:
                self._queue.task_done()

    # one delivery -----------------------------------------------------------------------

    def _refusal(self, url: str) -> str | None:
        if self.allow_private:
            return None
        host = urlsplit(url).hostname or ""
        try:
            addresses = self.resolver(host)
        except OSError as exc:
            return f"cannot resolve {host!r}: {exc}"
        private = [a for a in addresses if not is_public_address(a)]
        if private or not addresses:
            return f"{host!r} resolves to a non-public address ({', '.join(private)}); refused"
        return None

    def deliver(self, event: WebhookEvent) -> DeliveryRecord:
        """POST ``event`` (with retries) and return how it went; never raises for the
        receiver's failures."""
        delivery_id = uuid.uuid4().hex
        body = orjson.dumps(
            {
                "id": delivery_id,
                "event": event.event,
                "created_at": _now().isoformat().replace("+00:00", "Z"),
                "data": event.data,
            },
            option=orjson.OPT_NON_STR_KEYS,
        )

        def record(outcome: str, status: int | None, attempts: int, error: str) -> DeliveryRecord:
            return DeliveryRecord(
                delivery_id,
                event.event,
                event.url,
                outcome,
                status,
                attempts,
                error[:2000],
                _now(),
            )

        refusal = self._refusal(event.url)
        if refusal is not None:
            return record("refused", None, 0, refusal)
        status: int | None = None
        error = ""
        attempt = 0
        with httpx.Client(
            timeout=self.timeout, follow_redirects=False, transport=self._transport
        ) as client:
            for attempt in range(1, self.attempts + 1):
                headers = {
                    "content-type": "application/json",
                    "user-agent": self.user_agent,
                    "maas-event": event.event,
                    "maas-delivery": delivery_id,
                    SIGNATURE_HEADER: sign(event.secret, body),
                }
                try:
                    response = client.post(event.url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    status, error = None, f"{type(exc).__name__}: {exc}"
                else:
                    status = response.status_code
                    if 200 <= status < 300:
                        return record("delivered", status, attempt, "")
                    error = f"HTTP {status}"
                    if 300 <= status < 400:
                        error += " (redirects are not followed)"
                    if status != 429 and status < 500:
                        break
                if attempt < self.attempts and self._stop.wait(self.backoff * 2 ** (attempt - 1)):
                    break
        return record("failed", status, attempt, error)

    def record(self, event: WebhookEvent, outcome: DeliveryRecord) -> None:
        """Write a delivery's outcome (its model may have been deleted meanwhile)."""
        if outcome.outcome != "delivered":
            log.warning("webhook %s to %s: %s", event.event, event.url, outcome.error)
        try:
            with self.db.writer() as session, session.begin():
                add_delivery(session, event.model_id, outcome)
        except Exception:  # noqa: BLE001 - e.g. the model is gone: nothing to attach it to
            log.warning("could not record the webhook delivery %s", outcome.id, exc_info=True)
