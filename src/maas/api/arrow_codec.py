"""Apache Arrow on the prediction route: Arrow IPC stream and Parquet request bodies in, an
Arrow IPC stream of the prediction columns out (when the caller accepts one).

The response's columns: ``prediction`` (the class label, or the number), ``p_<class>`` per class,
``q_<level>`` per quantile, ``anomaly``, ``key.<name>`` for models answering per group, and with
``explain=true`` ``contribution.<input>`` per input plus ``contribution._bias``. The schema's
metadata names the model and version (``maas.model``, ``maas.version``), as the JSON answer does.
Text models' ``terms`` (a mapping per row) have no column; ask for JSON to get them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from maas.errors import MalformedRequestError, PayloadTooLargeError
from maas.services.serving import Served

__all__ = ["ARROW_STREAM", "PARQUET", "encode_prediction", "read_table"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"


def read_table(body: bytes, media_type: str, *, max_rows: int) -> pa.Table:
    """Read an Arrow IPC stream (``ARROW_STREAM``) or a Parquet file (``PARQUET``) body.

    Rows are counted before more is decompressed (a Parquet file's footer; an Arrow stream
    batch by batch), so that a small compressed body cannot unpack into gigabytes.

    Raises:
        MalformedRequestError: the bytes are not a readable stream or file of that kind.
        PayloadTooLargeError: the table has more than ``max_rows`` rows.
    """
    rows = 0
    try:
        if media_type == PARQUET:
            parquet = pq.ParquetFile(pa.BufferReader(body))
            _check_rows(parquet.metadata.num_rows, max_rows)
            return parquet.read()
        batches = []
        with pa.ipc.open_stream(pa.py_buffer(body)) as reader:
            for batch in reader:
                rows += batch.num_rows
                _check_rows(rows, max_rows)
                batches.append(batch)
            return pa.Table.from_batches(batches, schema=reader.schema)
    except (pa.ArrowException, OSError, ValueError) as exc:
        kind = "a Parquet file" if media_type == PARQUET else "an Arrow IPC stream"
        raise MalformedRequestError(
            f"The request body is not {kind}: {exc}", field="body", expected=media_type
        ) from exc


def _check_rows(rows: int, max_rows: int) -> None:
    if rows > max_rows:
        raise PayloadTooLargeError(
            f"A request may hold at most {max_rows} rows. Got {rows} or more instead.",
            field="rows",
            expected=f"<= {max_rows}",
            received=rows,
        )


def encode_prediction(served: Served, prediction_ids: list[str | None] | None = None) -> bytes:
    """The prediction as an Arrow IPC stream (one record batch; see the module docstring),
    with a ``prediction_id`` column when the prediction log gave ids."""
    version, pred = served.version, served.prediction
    sig = version.signature
    columns: dict[str, pa.Array] = {}
    predictions = np.asarray(pred.predictions)
    if predictions.dtype == object:
        columns["prediction"] = pa.array(predictions.tolist(), type=pa.string())
    else:
        columns["prediction"] = pa.array(predictions.astype(np.float64))
    if pred.probabilities is not None:
        probabilities = np.asarray(pred.probabilities, dtype=np.float64)
        for k, label in enumerate(sig.classes or []):
            columns[f"p_{label}"] = pa.array(probabilities[:, k])
    if pred.quantiles is not None:
        for level, values in pred.quantiles.items():
            columns[f"q_{level}"] = pa.array(np.asarray(values, dtype=np.float64))
    if pred.anomalies is not None:
        columns["anomaly"] = pa.array(np.asarray(pred.anomalies, dtype=bool))
    if pred.keys is not None:
        names = list(dict.fromkeys(k for key in pred.keys for k in key))
        for name in names:
            columns[f"key.{name}"] = pa.array([key.get(name) for key in pred.keys])
    if pred.contributions is not None:
        contributions = np.asarray(pred.contributions, dtype=np.float64)
        for j, name in enumerate([*sig.input_names, "_bias"]):
            columns[f"contribution.{name}"] = pa.array(contributions[:, j])
    if prediction_ids is not None:
        columns["prediction_id"] = pa.array(prediction_ids, type=pa.string())
    table = pa.table(columns).replace_schema_metadata(
        {"maas.model": version.model, "maas.version": str(version.version)}
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())
