"""Named input types of the SDK, in one place so signatures stay readable."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import IO, Any, TypeAlias

import httpx

from maas.domain.signature import Signature

__all__ = [
    "ColumnsInput",
    "DatasetFile",
    "ModelSource",
    "RowsInput",
    "SignatureInput",
    "TableInput",
    "TagsInput",
    "TimeoutTypes",
]

TimeoutTypes: TypeAlias = float | httpx.Timeout | None
"""Seconds (``float``), an ``httpx.Timeout`` for per-phase limits, or ``None`` to wait forever."""

ModelSource: TypeAlias = bytes | str | os.PathLike[str]
"""A model artifact: its bytes, or the path of a file holding them."""

DatasetFile: TypeAlias = bytes | str | os.PathLike[str] | IO[bytes]
"""A dataset file to upload: its bytes, its path, or a binary file object (streamed from
where it stands)."""

SignatureInput: TypeAlias = Signature | Mapping[str, Any]
"""A ``Signature``, or the JSON-like mapping it is validated from."""

TagsInput: TypeAlias = Mapping[str, str]

RowsInput: TypeAlias = Sequence[Mapping[str, Any]]
"""Rows as objects: ``[{"torque": 41.2, "speed": 1500}, ...]``."""

ColumnsInput: TypeAlias = Mapping[str, Any]
"""Columns as sequences of equal length: ``{"torque": [41.2, 40.8], "speed": [1500, 1510]}``.
numpy arrays (and so ``{c: df[c].to_numpy() for c in df}``) are accepted as values."""

TableInput: TypeAlias = Any
"""A table of input rows, one column per input: a ``pyarrow.Table`` or ``RecordBatch``, or a
``pandas.DataFrame`` (its index is not sent). Sent as an Arrow IPC stream; pyarrow must be
installed (it is imported when the first table is sent, so ``import maas`` stays light)."""
