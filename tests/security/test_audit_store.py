"""The audit log in a real database (SQLite and PostgreSQL): appends keep one valid chain, even
concurrently, and tampering with the rows by raw SQL is found and named."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from maas.domain.audit_chain import (
    GENESIS_HASH,
    AuditEntry,
    ChainHead,
    Outcome,
    link,
    parse_jsonl,
    seal,
    verify,
)
from maas.domain.principal import Principal
from maas.domain.roles import Role
from maas.errors import IntegrityError
from maas.services.audit import ANONYMOUS, AuditService
from maas.store.audit import PREDICTION_COUNT_ACTION, AuditRepository
from maas.store.db import Database, migrate

ALICE = Principal("k-alice-0001", "alice", Role.ADMIN, "tenant-a", "acme")
BOB = Principal("k-bob-000002", "bob", Role.DEVELOPER, "tenant-b", "globex")


@pytest.fixture
def db(tmp_path: Path, database_url: str | None) -> Iterator[Database]:
    database = Database(database_url or f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(database)
    yield database
    database.dispose()


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def fill(service: AuditService, n: int) -> list[AuditEntry]:
    return [
        service.record(
            ALICE if i % 2 else BOB,
            "version.register",
            f"models/pump/versions/{i}",
            Outcome.SUCCESS,
            request_id=f"req-{i}",
            details={"i": i, "ratio": i / 3, "tags": ["a", None, True]},
        )
        for i in range(1, n + 1)
    ]


def sql(db: Database, statement: str, **params: Any) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(statement), params)


def row(db: Database, seq: int) -> dict[str, Any]:
    with db.engine.connect() as conn:
        found = conn.execute(text("SELECT * FROM audit_log WHERE seq = :s"), {"s": seq}).one()
    return dict(found._mapping)


def test_audit_append_links_and_reads_back(db: Database) -> None:
    service = AuditService(db)
    assert service.verify().ok
    assert service.head() == ChainHead(0, GENESIS_HASH)
    written = fill(service, 5)
    assert [e.seq for e in written] == [1, 2, 3, 4, 5]
    assert written[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in zip(written, written[1:], strict=False))
    with db.session() as session:
        read = list(AuditRepository(session).iter_entries())
    assert read == written
    assert (read[0].actor, read[0].tenant_id) == (ALICE.actor, ALICE.tenant_id)
    assert (read[1].actor, read[1].tenant_id) == (BOB.actor, BOB.tenant_id)
    assert service.head() == ChainHead(5, written[-1].hash)
    assert service.verify().ok
    assert service.verify().checked == 5


def test_audit_record_without_principal_is_anonymous(db: Database) -> None:
    service = AuditService(db)
    entry = service.record(
        None, "model.read", "models/pump", Outcome.DENIED, request_id="r1", tenant_id="tenant-a"
    )
    assert (entry.actor, entry.tenant_id, entry.outcome) == (ANONYMOUS, "tenant-a", "denied")
    system = service.record(None, "tenant.create", "tenants/acme", "success", actor="system")
    assert (system.actor, system.tenant_id) == ("system", None)


def test_audit_concurrent_appends_keep_one_chain(db: Database) -> None:
    service = AuditService(db)
    threads, each = 8, 12

    def work(t: int) -> list[int]:
        return [
            service.record(ALICE, "alias.set", f"models/m{t}/aliases/a{i}", "success").seq
            for i in range(each)
        ]

    with ThreadPoolExecutor(max_workers=threads) as pool:
        seqs = sorted(s for batch in pool.map(work, range(threads)) for s in batch)
    assert seqs == list(range(1, threads * each + 1))
    result = service.verify()
    assert result.ok, result.reason
    assert result.checked == threads * each


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("outcome", "failure"),
        ("actor", "mallory (00000000)"),
        ("tenant_id", "tenant-b"),
        ("details", '{"i": 3, "ratio": 1.0, "tags": []}'),
        ("hash", "0" * 64),
    ],
)
def test_audit_verify_names_an_edited_row(db: Database, column: str, value: str) -> None:
    service = AuditService(db)
    fill(service, 6)
    sql(db, f"UPDATE audit_log SET {column} = :v WHERE seq = 3", v=value)
    result = service.verify()
    assert not result.ok
    assert result.first_broken_seq == 3
    assert result.checked == 2


def test_audit_verify_names_the_row_after_an_edited_and_rehashed_one(db: Database) -> None:
    service = AuditService(db)
    victim = fill(service, 6)[2]
    forged = seal(victim.prev_hash, victim.model_copy(update={"outcome": "failure"}))
    sql(db, "UPDATE audit_log SET outcome = 'failure', hash = :h WHERE seq = 3", h=forged.hash)
    result = service.verify()
    assert result.first_broken_seq == 4
    assert "record 3 was rewritten" in result.reason


def test_audit_verify_names_the_row_after_a_deleted_one(db: Database) -> None:
    service = AuditService(db)
    fill(service, 6)
    sql(db, "DELETE FROM audit_log WHERE seq = 3")
    result = service.verify()
    assert not result.ok
    assert result.first_broken_seq == 4
    assert "deleted" in result.reason


def test_audit_verify_finds_deleted_last_rows_through_the_head(db: Database) -> None:
    service = AuditService(db)
    fill(service, 6)
    sql(db, "DELETE FROM audit_log WHERE seq >= 5")
    result = service.verify()
    assert not result.ok
    assert result.first_broken_seq == 5
    assert "head" in result.reason
    assert result.checked == 4


def test_audit_verify_refuses_a_log_whose_head_is_gone(db: Database) -> None:
    service = AuditService(db)
    fill(service, 2)
    sql(db, "DELETE FROM audit_head")
    result = service.verify()
    assert not result.ok
    assert "head" in result.reason
    with pytest.raises(IntegrityError):
        service.record(ALICE, "model.create", "models/x", "success")


def _forged(prev_hash: str, seq: int) -> AuditEntry:
    return seal(
        prev_hash,
        AuditEntry(
            seq=seq,
            at=datetime.now(UTC),
            tenant_id="tenant-a",
            actor="mallory (00000000)",
            action="key.create",
            resource="keys/backdoor",
            outcome="success",
        ),
    )


def _insert(db: Database, entry: AuditEntry) -> None:
    values = entry.model_dump()
    values["details"] = json.dumps(values["details"])
    sql(
        db,
        "INSERT INTO audit_log (seq, at, tenant_id, actor, action, resource, outcome, "
        "request_id, details, prev_hash, hash) VALUES (:seq, :at, :tenant_id, :actor, :action, "
        ":resource, :outcome, :request_id, :details, :prev_hash, :hash)",
        **values,
    )


def test_audit_verify_names_a_row_inserted_in_the_middle(db: Database) -> None:
    service = AuditService(db)
    fill(service, 6)
    # Make room at seq 4 (seq is the primary key), then insert a correctly linked forgery.
    sql(db, "UPDATE audit_log SET seq = -seq WHERE seq >= 4")
    sql(db, "UPDATE audit_log SET seq = 1 - seq WHERE seq < 0")
    _insert(db, _forged(row(db, 3)["hash"], 4))
    sql(db, "UPDATE audit_head SET seq = 7")
    result = service.verify()
    assert not result.ok
    assert result.first_broken_seq == 4
    assert "inserted" in result.reason


def test_audit_verify_names_a_row_inserted_at_the_end(db: Database) -> None:
    service = AuditService(db)
    written = fill(service, 6)
    _insert(db, _forged(written[-1].hash, 7))
    result = service.verify()
    assert not result.ok
    assert result.first_broken_seq == 7
    assert "inserted" in result.reason


def test_audit_export_round_trips_as_json_lines(db: Database) -> None:
    service = AuditService(db)
    written = fill(service, 7)
    out = io.StringIO()
    assert service.export(out) == 7
    lines = out.getvalue().splitlines()
    assert len(lines) == 7
    assert all(json.loads(line)["hash"] for line in lines)
    back = list(parse_jsonl(lines))
    assert back == written
    assert verify(back, service.head()).ok

    tenant_only = io.StringIO()
    assert service.export(tenant_only, tenant_id=ALICE.tenant_id) == 4
    mine = list(parse_jsonl(tenant_only.getvalue().splitlines()))
    assert {e.tenant_id for e in mine} == {ALICE.tenant_id}
    assert all(link(e.prev_hash, e) == e.hash for e in mine)


def test_audit_iter_entries_pages_through_a_long_log(db: Database) -> None:
    service = AuditService(db)
    fill(service, 25)
    with db.session() as session:
        repo = AuditRepository(session)
        assert [e.seq for e in repo.iter_entries(batch_size=4)] == list(range(1, 26))
        tenant = list(repo.iter_entries(BOB.tenant_id, batch_size=3))
        assert [e.seq for e in tenant] == list(range(2, 26, 2))
        assert repo.verify(batch_size=4).ok


# prediction counts ----------------------------------------------------------------------


def test_audit_prediction_counts_are_written_per_key_version_and_minute(db: Database) -> None:
    clock = FakeClock(datetime(2025, 3, 1, 10, 0, 5, tzinfo=UTC))
    service = AuditService(db, clock=clock)

    def predict(_: int) -> None:
        for _ in range(50):
            service.count_prediction(ALICE, "pump", 3)
        service.count_prediction(BOB, "pump", 3, n=10)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(predict, range(4)))
    service.count_prediction(ALICE, "press", 1)
    assert service.pending_counts() == 3
    assert service.flush() == 0  # the minute is not over yet: nothing written
    assert service.head() == ChainHead(0, GENESIS_HASH)

    clock.now += timedelta(minutes=1)
    service.count_prediction(ALICE, "pump", 3)  # the next minute
    assert service.flush() == 3
    assert service.pending_counts() == 1
    with db.session() as session:
        entries = list(AuditRepository(session).iter_entries())
    counts = {
        (e.tenant_id, e.details["key_id"], e.resource, e.details["minute"]): e.details["count"]
        for e in entries
    }
    assert counts == {
        ("tenant-a", ALICE.key_id, "models/pump/versions/3", "2025-03-01T10:00Z"): 200,
        ("tenant-b", BOB.key_id, "models/pump/versions/3", "2025-03-01T10:00Z"): 40,
        ("tenant-a", ALICE.key_id, "models/press/versions/1", "2025-03-01T10:00Z"): 1,
    }
    assert {e.action for e in entries} == {PREDICTION_COUNT_ACTION}
    assert {e.actor for e in entries} == {ALICE.actor, BOB.actor}

    service.close()  # writes the current minute too
    assert service.pending_counts() == 0
    assert service.head().seq == 4  # type: ignore[union-attr]
    assert service.verify().ok


def test_audit_prediction_counts_survive_a_failed_flush(db: Database) -> None:
    clock = FakeClock(datetime(2025, 3, 1, 10, 0, tzinfo=UTC))
    service = AuditService(db, clock=clock)
    service.count_prediction(ALICE, "pump", 3, n=5)
    clock.now += timedelta(minutes=2)
    sql(db, "DELETE FROM audit_head")
    with pytest.raises(IntegrityError):
        service.flush()
    service.count_prediction(ALICE, "pump", 3, n=2)  # a later minute
    assert service.pending_counts() == 2
    sql(db, f"INSERT INTO audit_head (id, seq, hash, updated_at) VALUES (1, 0, '{GENESIS_HASH}', "
            "CURRENT_TIMESTAMP)")  # fmt: skip
    clock.now += timedelta(minutes=1)
    assert service.flush() == 2
    with db.session() as session:
        total = sum(e.details["count"] for e in AuditRepository(session).iter_entries())
    assert total == 7


def test_audit_flusher_thread_writes_finished_minutes(db: Database) -> None:
    clock = FakeClock(datetime(2025, 3, 1, 10, 0, tzinfo=UTC))
    service = AuditService(db, clock=clock)
    service.count_prediction(ALICE, "pump", 3)
    clock.now += timedelta(minutes=1)
    written = threading.Event()
    service.start_flusher(interval=0.01)
    try:
        for _ in range(500):
            if service.pending_counts() == 0:
                written.set()
                break
            threading.Event().wait(0.01)
    finally:
        service.close()
    assert written.is_set()
    assert service.head().seq == 1  # type: ignore[union-attr]
