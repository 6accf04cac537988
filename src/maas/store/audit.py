"""Repository of the audit log: appends linked onto the hash chain, reads, verification, export.

Appends lock the chain's head row (``SELECT ... FOR UPDATE`` on PostgreSQL), so concurrent
writers queue and every record links to the one before it. On SQLite the lock is the database
write lock: append inside a ``Database.writer()`` session (``BEGIN IMMEDIATE``), or concurrent
appends fail instead of queueing (they never break the chain: ``seq`` is the primary key).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from pydantic import ValidationError
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from maas.domain.audit_chain import (
    AuditEntry,
    ChainHead,
    ChainVerifier,
    Outcome,
    VerifyResult,
    seal,
)
from maas.errors import IntegrityError
from maas.store.tables import AuditHeadRow, AuditRow, utcnow

__all__ = ["PREDICTION_COUNT_ACTION", "AuditRepository"]

PREDICTION_COUNT_ACTION = "prediction.count"
"""Action of the entries holding a prediction count (per key, model version and minute)."""

_HEAD_ID = 1
_COLUMNS = tuple(AuditRow.__table__.columns)


class AuditRepository:
    """The audit log of one database (one chain for all tenants)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def head(self) -> ChainHead | None:
        """The head as last written, or None if its row is gone."""
        row = self.session.get(AuditHeadRow, _HEAD_ID, populate_existing=True)
        return None if row is None else ChainHead(row.seq, row.hash)

    def append(
        self,
        *,
        tenant_id: str | None,
        actor: str,
        action: str,
        resource: str,
        outcome: Outcome | str,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditEntry:
        """Link a new record onto the chain and move the head to it (flushed, not committed).

        Raises:
            IntegrityError: the head row is missing (the log was tampered with).
            sqlalchemy.exc.IntegrityError: a concurrent writer took the same ``seq`` (only when
                the caller did not use a writer session on SQLite).
        """
        head = self.session.scalars(
            select(AuditHeadRow)
            .where(AuditHeadRow.id == _HEAD_ID)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()
        if head is None:
            raise IntegrityError(
                "The audit log has no head record; run 'maas audit verify'.", field="audit_head"
            )
        entry = seal(
            head.hash,
            AuditEntry(
                seq=head.seq + 1,
                at=at or utcnow(),
                tenant_id=tenant_id,
                actor=actor,
                action=action,
                resource=resource,
                outcome=outcome,
                request_id=request_id,
                details=details or {},
            ),
        )
        self.session.add(AuditRow(**entry.model_dump()))
        head.seq, head.hash, head.updated_at = entry.seq, entry.hash, entry.at
        self.session.flush()
        return entry

    def append_prediction_count(
        self,
        *,
        tenant_id: str,
        actor: str,
        key_id: str,
        model: str,
        version: int,
        minute: datetime,
        count: int,
    ) -> AuditEntry:
        """Record that ``key_id`` made ``count`` predictions with a model version in ``minute``.

        Several entries for the same key, version and minute (one per process) add up.
        """
        return self.append(
            tenant_id=tenant_id,
            actor=actor,
            action=PREDICTION_COUNT_ACTION,
            resource=f"models/{model}/versions/{version}",
            outcome=Outcome.SUCCESS,
            details={
                "key_id": key_id,
                "minute": minute.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ"),
                "count": count,
            },
        )

    def iter_entries(
        self, tenant_id: str | None = None, *, batch_size: int = 1000
    ) -> Iterator[AuditEntry]:
        """Every record in ``seq`` order (of one tenant if given), read in batches.

        Raises:
            IntegrityError: a record cannot be read back as an entry.
        """
        for row in self._rows(tenant_id, batch_size):
            try:
                yield _entry(row)
            except ValidationError as exc:
                raise _unreadable(row.seq, exc) from exc

    def verify(self, *, batch_size: int = 1000) -> VerifyResult:
        """Check the whole chain against its head. Read it in one snapshot (a repeatable-read
        transaction on PostgreSQL) or concurrent appends look like tampering."""
        verifier = ChainVerifier()
        for row in self._rows(None, batch_size):
            try:
                entry = _entry(row)
            except ValidationError as exc:
                return verifier.broken(row.seq, str(_unreadable(row.seq, exc)))
            if verifier.feed(entry) is not None:
                break
        head = self.head()
        if head is None and verifier.failed is None:
            return VerifyResult(
                False, verifier.checked, None, "the head record of the audit log was deleted"
            )
        return verifier.finish(head)

    def export_jsonl(self, fp: TextIO, tenant_id: str | None = None) -> int:
        """Write the records (of one tenant if given) as JSON lines; returns how many.

        Each line keeps ``prev_hash`` and ``hash``: a full export verifies with
        ``audit_chain.verify(parse_jsonl(...))``; in a one-tenant export each record can still
        be checked on its own (``link(e.prev_hash, e) == e.hash``).

        Raises:
            IntegrityError: a record cannot be read back as an entry.
        """
        count = 0
        for entry in self.iter_entries(tenant_id):
            fp.write(entry.model_dump_json() + "\n")
            count += 1
        return count

    def _rows(self, tenant_id: str | None, batch_size: int) -> Iterator[Row[Any]]:
        # Core rows, not ORM objects: a long log never fills the session's identity map.
        last = 0
        while True:
            query = select(*_COLUMNS).where(AuditRow.seq > last)
            if tenant_id is not None:
                query = query.where(AuditRow.tenant_id == tenant_id)
            rows = self.session.execute(query.order_by(AuditRow.seq).limit(batch_size)).all()
            yield from rows
            if len(rows) < batch_size:
                return
            last = rows[-1].seq


def _entry(row: Row[Any]) -> AuditEntry:
    return AuditEntry.model_validate(row._asdict())


def _unreadable(seq: int, exc: ValidationError) -> IntegrityError:
    return IntegrityError(
        f"Audit record {seq} cannot be read: {exc.errors()[0]['msg']}.",
        field="seq",
        received=seq,
    )
