"""Property tests of the audit hash chain: any single edit, deletion or insertion is found, and
the record named is the right one."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from maas.domain.audit_chain import (
    GENESIS_HASH,
    AuditEntry,
    ChainHead,
    Outcome,
    canonical_json,
    link,
    parse_jsonl,
    seal,
    verify,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)

contents = st.fixed_dictionaries(
    {
        "tenant_id": st.none() | st.text(min_size=1, max_size=36),
        "actor": st.text(max_size=20),
        "action": st.sampled_from(["model.create", "version.register", "alias.set", "key.revoke"]),
        "resource": st.text(max_size=30),
        "outcome": st.sampled_from(list(Outcome)),
        "request_id": st.none() | st.text(max_size=12),
        "details": st.dictionaries(st.text(max_size=6), json_values, max_size=3),
        "micros": st.integers(0, 10**9),
    }
)
chains = st.lists(contents, min_size=1, max_size=12)


def build(items: list[dict[str, Any]]) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev = GENESIS_HASH
    for seq, item in enumerate(items, start=1):
        fields = {k: v for k, v in item.items() if k != "micros"}
        entry = seal(
            prev, AuditEntry(seq=seq, at=T0 + timedelta(microseconds=item["micros"]), **fields)
        )
        entries.append(entry)
        prev = entry.hash
    return entries


def head_of(entries: list[AuditEntry]) -> ChainHead:
    return ChainHead(entries[-1].seq, entries[-1].hash)


def tampered(entry: AuditEntry, field: str) -> AuditEntry:
    """The entry with one content field changed, its hashes left as they were."""
    value = getattr(entry, field)
    changes: dict[str, Callable[[], Any]] = {
        "tenant_id": lambda: "other-tenant" if value != "other-tenant" else "x",
        "actor": lambda: value + "!",
        "action": lambda: value + "!",
        "resource": lambda: value + "!",
        "outcome": lambda: "success" if value != "success" else "denied",
        "request_id": lambda: (value or "") + "!",
        "details": lambda: {**value, "\x00tampered": True},
        "at": lambda: value + timedelta(microseconds=1),
    }
    return entry.model_copy(update={field: changes[field]()})


EDITABLE = ["tenant_id", "actor", "action", "resource", "outcome", "request_id", "details", "at"]


@given(chains)
def test_chain_clean_verifies(items: list[dict[str, Any]]) -> None:
    entries = build(items)
    result = verify(entries, head_of(entries))
    assert result.ok
    assert result.checked == len(entries)
    assert result.first_broken_seq is None


def test_chain_empty_verifies_against_genesis_head() -> None:
    assert verify([], ChainHead(0, GENESIS_HASH)).ok
    assert verify([]).ok


@given(chains, st.data())
def test_chain_names_an_edited_record(items: list[dict[str, Any]], data: st.DataObject) -> None:
    entries = build(items)
    i = data.draw(st.integers(0, len(entries) - 1))
    field = data.draw(st.sampled_from(EDITABLE))
    broken = [*entries[:i], tampered(entries[i], field), *entries[i + 1 :]]
    result = verify(broken, head_of(entries))
    assert not result.ok
    assert result.first_broken_seq == i + 1
    assert result.checked == i
    assert "edited" in result.reason


@given(chains, st.data())
def test_chain_names_the_record_after_an_edited_and_rehashed_one(
    items: list[dict[str, Any]], data: st.DataObject
) -> None:
    entries = build(items)
    i = data.draw(st.integers(0, len(entries) - 1))
    forged = seal(entries[i].prev_hash, tampered(entries[i], data.draw(st.sampled_from(EDITABLE))))
    broken = [*entries[:i], forged, *entries[i + 1 :]]
    result = verify(broken, head_of(entries))
    assert not result.ok
    # Record i+1 verifies on its own; the link after it (or the head) gives it away.
    assert result.first_broken_seq == min(i + 2, len(entries))


@given(chains, st.data())
def test_chain_names_the_record_after_a_deleted_one(
    items: list[dict[str, Any]], data: st.DataObject
) -> None:
    entries = build(items)
    i = data.draw(st.integers(0, len(entries) - 1))
    broken = entries[:i] + entries[i + 1 :]
    result = verify(broken, head_of(entries))
    assert not result.ok
    # A middle record: the next one is named; the last: the head names the missing one.
    assert result.first_broken_seq == i + 1 + (1 if i < len(entries) - 1 else 0)
    assert "deleted" in result.reason


@given(chains, st.data())
def test_chain_without_head_misses_only_a_truncation(
    items: list[dict[str, Any]], data: st.DataObject
) -> None:
    entries = build(items)
    n = data.draw(st.integers(0, len(entries)))
    assert verify(entries[:n]).ok
    result = verify(entries[:n], head_of(entries))
    assert result.ok is (n == len(entries))


@given(chains, contents, st.data())
def test_chain_names_an_inserted_record(
    items: list[dict[str, Any]], extra: dict[str, Any], data: st.DataObject
) -> None:
    entries = build(items)
    i = data.draw(st.integers(0, len(entries)))
    renumber = data.draw(st.booleans())
    prev = entries[i - 1].hash if i else GENESIS_HASH
    fields = {k: v for k, v in extra.items() if k != "micros"}
    # The forger knows the algorithm: the inserted record is correctly linked to the one before.
    forged = seal(prev, AuditEntry(seq=i + 1, at=T0, **fields))
    rest = entries[i:]
    if renumber:  # as in a database, where seq is unique: later records move up by one
        rest = [e.model_copy(update={"seq": e.seq + 1}) for e in rest]
    broken = [*entries[:i], forged, *rest]
    result = verify(broken, head_of(entries))
    assert not result.ok
    assert result.first_broken_seq == i + 1
    assert "inserted" in result.reason or "out of order" in result.reason


@given(chains, st.data())
def test_chain_names_an_inserted_record_with_a_bad_link(
    items: list[dict[str, Any]], data: st.DataObject
) -> None:
    entries = build(items)
    i = data.draw(st.integers(0, len(entries)))
    forged = seal(
        "f" * 64,
        AuditEntry(
            seq=i + 1, at=T0, actor="x", action="a", resource="r", outcome="success", tenant_id=None
        ),
    )
    rest = [e.model_copy(update={"seq": e.seq + 1}) for e in entries[i:]]
    result = verify([*entries[:i], forged, *rest], head_of(entries))
    assert result.first_broken_seq == i + 1


@given(chains)
def test_chain_survives_a_jsonl_round_trip(items: list[dict[str, Any]]) -> None:
    entries = build(items)
    text = "".join(e.model_dump_json() + "\n" for e in entries)
    back = list(parse_jsonl(io.StringIO(text)))
    assert back == entries
    assert verify(back, head_of(entries)).ok


def test_entry_normalises_time_and_details_to_what_storage_gives_back() -> None:
    plus_two = timezone(timedelta(hours=2))
    entry = AuditEntry(
        seq=1,
        at=datetime(2025, 1, 1, 14, 0, tzinfo=plus_two),
        tenant_id=None,
        actor="a",
        action="x.y",
        resource="r",
        outcome=Outcome.DENIED,
        details={"when": datetime(2025, 1, 1, tzinfo=UTC), "n": (1, 2), "d": Decimal("1.5")},
    )
    assert entry.at == datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert entry.at.tzinfo is UTC
    assert entry.outcome == "denied"
    assert entry.details == {"when": "2025-01-01T00:00:00Z", "n": [1, 2], "d": "1.5"}
    naive = entry.model_copy(update={"at": datetime(2025, 1, 1, 12, 0)})
    assert canonical_json(AuditEntry.model_validate(naive.model_dump())) == canonical_json(entry)


def test_canonical_json_is_stable_and_excludes_hashes() -> None:
    entry = AuditEntry(
        seq=7,
        at=T0,
        tenant_id="t",
        actor="a",
        action="x.y",
        resource="r",
        outcome="success",
        details={"b": 1, "a": [1.5, None]},
    )
    assert canonical_json(entry) == (
        b'{"action":"x.y","actor":"a","at":"2025-01-01T00:00:00.000000Z",'
        b'"details":{"a":[1.5,null],"b":1},"outcome":"success","request_id":null,'
        b'"resource":"r","seq":7,"tenant_id":"t"}'
    )
    sealed = seal(GENESIS_HASH, entry)
    assert canonical_json(sealed) == canonical_json(entry)
    assert sealed.hash == link(GENESIS_HASH, entry)
    assert len(sealed.hash) == 64
