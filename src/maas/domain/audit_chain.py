"""The audit log's hash chain: canonical entries, linking and verification (pure; no I/O).

Every entry is hashed together with the hash of the entry before it::

    hash(n) = sha256(hash(n - 1) + "\\n" + canonical_json(entry n))
    hash(0) = GENESIS_HASH

so editing, deleting or inserting an entry breaks the link of the entry itself or of the one
after it. Deleting the *last* entries leaves an intact chain behind, so the store also keeps the
chain's head (last ``seq`` and ``hash``) in a row updated in the same transaction as each
append; ``verify`` compares the chain's end with that head.

What this does not stop: someone able to write the database who recomputes every hash after
the entry they changed, and the head too. Anchor the head elsewhere (copy ``ChainHead`` into
the structured log or an external system now and then) to catch that as well.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import to_jsonable_python

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "ChainHead",
    "ChainVerifier",
    "Outcome",
    "VerifyResult",
    "canonical_json",
    "link",
    "parse_jsonl",
    "seal",
    "verify",
]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry."""

_CONTENT_FIELDS = (
    "seq",
    "at",
    "tenant_id",
    "actor",
    "action",
    "resource",
    "outcome",
    "request_id",
    "details",
)


class Outcome(StrEnum):
    """How a recorded action ended."""

    SUCCESS = "success"
    DENIED = "denied"
    FAILURE = "failure"


class AuditEntry(BaseModel):
    """One record of the audit log: who did what to which resource, when, and how it ended.

    ``prev_hash`` and ``hash`` are empty until the entry is ``seal``-ed onto a chain.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1)
    """Position in the chain, from 1, without gaps."""
    at: datetime
    """When it was recorded (UTC; a naive time is taken as UTC)."""
    tenant_id: str | None
    """Tenant the action concerned; None for actions outside any tenant."""
    actor: str
    """Who acted: ``key-name (key id prefix)``, or ``anonymous`` for unauthenticated callers."""
    action: str
    """What was attempted, as ``noun.verb`` (``version.register``, ``alias.set``)."""
    resource: str
    """What it was done to (``models/pump-rul/versions/3``)."""
    outcome: str
    """How it ended: one of ``Outcome`` (kept a string so that new outcomes stay readable)."""
    request_id: str | None = None
    """The request id of the HTTP call or MQTT message, when there was one."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Extra facts, JSON values only (other values are converted as JSON would show them)."""
    prev_hash: str = ""
    """Hash of the entry before (``GENESIS_HASH`` for the first)."""
    hash: str = ""
    """``link(prev_hash, self)``."""

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("outcome", mode="before")
    @classmethod
    def _outcome_text(cls, value: Any) -> Any:
        return value.value if isinstance(value, Outcome) else value

    @field_validator("details", mode="before")
    @classmethod
    def _json_only(cls, value: Any) -> Any:
        # What is hashed must be exactly what a JSON column gives back.
        return json.loads(_dumps(to_jsonable_python(value)))


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last link of the chain as the store last wrote it."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of ``verify``.

    Attributes:
        ok: the whole chain holds (and matches the head, when one was given).
        checked: how many entries were checked before stopping.
        first_broken_seq: the first record found broken (or missing), else None.
        reason: what is wrong with it, in words; empty when ``ok``.
    """

    ok: bool
    checked: int
    first_broken_seq: int | None = None
    reason: str = ""


def _dumps(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def canonical_json(entry: AuditEntry) -> bytes:
    """The bytes an entry is hashed over: its content fields (not its hashes) as compact JSON
    with sorted keys, the time as ISO 8601 UTC with microseconds."""
    content: dict[str, Any] = {name: getattr(entry, name) for name in _CONTENT_FIELDS}
    content["at"] = entry.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return _dumps(content).encode("utf-8")


def link(prev_hash: str, entry: AuditEntry) -> str:
    """The hash of ``entry`` chained after an entry whose hash is ``prev_hash`` (hex SHA-256)."""
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical_json(entry)).hexdigest()


def seal(prev_hash: str, entry: AuditEntry) -> AuditEntry:
    """``entry`` with ``prev_hash`` set and its ``hash`` computed."""
    return entry.model_copy(update={"prev_hash": prev_hash, "hash": link(prev_hash, entry)})


class ChainVerifier:
    """Checks entries one at a time, in ``seq`` order, without holding them all in memory.

    ``feed`` returns a failed ``VerifyResult`` at the first broken record (and the verifier
    stays failed); ``finish`` compares the end of the chain with the stored head.
    """

    def __init__(self) -> None:
        self.checked = 0
        self.failed: VerifyResult | None = None
        self._expected_seq = 1
        self._prev_hash = GENESIS_HASH
        self._prev_prev_hash: str | None = None

    def broken(self, seq: int, reason: str) -> VerifyResult:
        """Record that ``seq`` is broken for ``reason`` (for records that cannot even be read)."""
        if self.failed is None:
            self.failed = VerifyResult(False, self.checked, seq, reason)
        return self.failed

    def feed(self, entry: AuditEntry) -> VerifyResult | None:
        """Check the next entry; returns the failure if it (or an earlier one) is broken."""
        if self.failed is not None:
            return self.failed
        expected = self._expected_seq
        if entry.seq > expected:
            missing = f"{expected}" if entry.seq == expected + 1 else f"{expected}..{entry.seq - 1}"
            return self.broken(
                entry.seq, f"record {entry.seq} follows a gap: record(s) {missing} were deleted"
            )
        if entry.seq < expected:
            return self.broken(
                entry.seq, f"record {entry.seq} is out of order or repeated after {expected - 1}"
            )
        if entry.prev_hash != self._prev_hash:
            if self._prev_prev_hash is not None and entry.prev_hash == self._prev_prev_hash:
                return self.broken(
                    expected - 1,
                    f"record {expected - 1} was inserted: record {expected} links to the record "
                    f"before it",
                )
            before = f"record {expected - 1}" if expected > 1 else "the start of the chain"
            return self.broken(
                entry.seq,
                f"record {entry.seq} does not link to {before}: a record was deleted or "
                f"inserted before it, or {before} was rewritten",
            )
        if link(entry.prev_hash, entry) != entry.hash:
            return self.broken(
                entry.seq, f"record {entry.seq} was edited or forged: its hash does not match it"
            )
        self.checked += 1
        self._expected_seq += 1
        self._prev_prev_hash, self._prev_hash = self._prev_hash, entry.hash
        return None

    def finish(self, head: ChainHead | None = None) -> VerifyResult:
        """The verdict on everything fed, checking the chain ends where ``head`` says."""
        if self.failed is not None:
            return self.failed
        last = self._expected_seq - 1
        if head is not None:
            if head.seq > last:
                return self.broken(
                    last + 1,
                    f"the log ends at record {last} but its head is record {head.seq}: "
                    f"the last record(s) were deleted",
                )
            if head.seq < last:
                return self.broken(
                    head.seq + 1,
                    f"record {head.seq + 1} lies beyond the head (record {head.seq}): "
                    f"it was inserted",
                )
            if head.hash != self._prev_hash:
                return self.broken(last, f"record {last} does not match the head: it was replaced")
        return VerifyResult(True, self.checked)


def verify(entries: Iterable[AuditEntry], head: ChainHead | None = None) -> VerifyResult:
    """Check a whole chain, from record 1, in ``seq`` order.

    An edited record is named itself; a deleted one by the record after it (or, at the end,
    through ``head``); an inserted one itself when the record after it still links to the one
    before (else the record after it is named).
    """
    verifier = ChainVerifier()
    for entry in entries:
        if verifier.feed(entry) is not None:
            break
    return verifier.finish(head)


def parse_jsonl(lines: Iterable[str]) -> Iterator[AuditEntry]:
    """Read entries back from exported JSON lines (blank lines skipped).

    Raises:
        pydantic.ValidationError: a line is not an audit entry.
    """
    for line in lines:
        if line.strip():
            yield AuditEntry.model_validate_json(line)
