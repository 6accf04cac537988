"""The audit trail: record changes and denied requests, count predictions, verify, export.

Predictions are not written one by one: ``count_prediction`` adds to an in-memory counter (a
dict under a lock, no I/O), and ``flush`` writes one entry per tenant, key, model version and
*finished* minute, so a busy minute costs one row per key and version, whatever the traffic.
``start_flusher`` runs ``flush`` every few seconds in a thread; ``close`` stops it and writes
what is left (the current minute too). Counts of a process that dies between flushes are lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple, TextIO

from maas.domain.audit_chain import AuditEntry, ChainHead, Outcome, VerifyResult
from maas.domain.principal import Principal
from maas.store.audit import AuditRepository
from maas.store.db import Database

__all__ = ["ANONYMOUS", "AuditService"]

ANONYMOUS = "anonymous"
"""The actor of requests without a valid API key."""

log = logging.getLogger(__name__)


class _CountKey(NamedTuple):  # a tuple: made and hashed on every prediction
    minute: datetime
    tenant_id: str
    key_id: str
    actor: str
    model: str
    version: int


def _now() -> datetime:
    return datetime.now(UTC)


def _minute(at: datetime) -> datetime:
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    return at.replace(second=0, microsecond=0)


class AuditService:
    """Writes and reads the audit log of one database.

    ``clock`` returns the current UTC time (tests pass a fake one).
    """

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = _now) -> None:
        self.db = db
        self.clock = clock
        self._counts: dict[_CountKey, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    # changes and denials ----------------------------------------------------------------

    def record(
        self,
        principal: Principal | None,
        action: str,
        resource: str,
        outcome: Outcome | str,
        *,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
        tenant_id: str | None = None,
        actor: str | None = None,
    ) -> AuditEntry:
        """Append one record in its own transaction and return it (sealed).

        The tenant is ``tenant_id`` if given, else the principal's; the actor is ``actor`` if
        given, else the principal's, else ``ANONYMOUS``. To make a change and its record
        atomic, call ``AuditRepository(session).append`` inside the change's transaction
        instead.
        """
        who = actor or (principal.actor if principal is not None else ANONYMOUS)
        if tenant_id is None and principal is not None:
            tenant_id = principal.tenant_id
        with self.db.writer() as session, session.begin():
            return AuditRepository(session).append(
                tenant_id=tenant_id,
                actor=who,
                action=action,
                resource=resource,
                outcome=outcome,
                request_id=request_id,
                details=details,
                at=self.clock(),
            )

    # predictions ------------------------------------------------------------------------

    def count_prediction(
        self, principal: Principal, model: str, version: int, *, n: int = 1
    ) -> None:
        """Count ``n`` predictions by the principal's key with a model version (no I/O)."""
        key = _CountKey(
            minute=_minute(self.clock()),
            tenant_id=principal.tenant_id,
            key_id=principal.key_id,
            actor=principal.actor,
            model=model,
            version=version,
        )
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + n

    def pending_counts(self) -> int:
        """How many (key, version, minute) counters wait to be written."""
        with self._lock:
            return len(self._counts)

    def flush(self, *, force: bool = False) -> int:
        """Write the counts of finished minutes (of every minute with ``force``) as entries,
        in one transaction; returns how many entries were written. If writing fails, the
        counts are kept for the next flush and the error is raised."""
        current = _minute(self.clock())
        with self._lock:
            due = {k: n for k, n in self._counts.items() if force or k.minute < current}
            for k in due:
                del self._counts[k]
        if not due:
            return 0
        try:
            with self.db.writer() as session, session.begin():
                repo = AuditRepository(session)
                for k in sorted(due):
                    repo.append_prediction_count(
                        tenant_id=k.tenant_id,
                        actor=k.actor,
                        key_id=k.key_id,
                        model=k.model,
                        version=k.version,
                        minute=k.minute,
                        count=due[k],
                    )
        except BaseException:
            with self._lock:
                for k, n in due.items():
                    self._counts[k] = self._counts.get(k, 0) + n
            raise
        return len(due)

    def start_flusher(self, interval: float = 10.0) -> None:
        """Flush finished minutes every ``interval`` seconds in a daemon thread (idempotent)."""
        if self._flusher is not None:
            return
        self._stop.clear()
        self._flusher = threading.Thread(
            target=self._flush_forever, args=(interval,), name="maas-audit-flush", daemon=True
        )
        self._flusher.start()

    def close(self) -> None:
        """Stop the flusher and write every pending count, the current minute's included."""
        if self._flusher is not None:
            self._stop.set()
            self._flusher.join()
            self._flusher = None
        self.flush(force=True)

    def _flush_forever(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - keep counting; the counts wait for the next try
                log.exception("could not write prediction counts to the audit log")

    # reading ----------------------------------------------------------------------------

    def head(self) -> ChainHead | None:
        """The chain's head (last seq and hash), to anchor outside the database."""
        with self.db.session() as session:
            return AuditRepository(session).head()

    def verify(self) -> VerifyResult:
        """Check the whole chain and its head, in one consistent snapshot."""
        with self.db.session() as session:
            if self.db.dialect == "postgresql":
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            return AuditRepository(session).verify()

    def export(self, fp: TextIO, tenant_id: str | None = None) -> int:
        """Write the log (of one tenant if given) to ``fp`` as JSON lines; returns how many.

        Raises:
            IntegrityError: a record cannot be read back.
        """
        with self.db.session() as session:
            if self.db.dialect == "postgresql":
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            return AuditRepository(session).export_jsonl(fp, tenant_id)
