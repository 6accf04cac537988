"""The child-side work of each kind of job, by name (a fixed table: never an import string)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maas.errors import InvalidParameterError
from maas.jobs.child import Progress, WorkFunction
from maas.ml.report import stability, training_profile
from maas.ml.templates.catalog import get_template

__all__ = ["DATA_FILE", "work_function"]

DATA_FILE = "data.parquet"
ARTIFACT_FILE = "artifact.bin"


def train(request: dict[str, Any], workdir: Path, progress: Progress) -> dict[str, Any]:
    """Fit a template on the dataset in the work folder and evaluate it.

    Request: ``template``, ``params``, ``target``, ``features`` (or null), ``stability_runs``.
    The version's metrics come from the part of the data the template held out of fitting
    (and of any threshold choice); ``stability`` refits with other seeds — which also draw
    other validation splits — and gives each metric's mean and standard deviation.
    """
    started = time.perf_counter()
    progress(0.02, "reading the dataset")
    frame = pd.read_parquet(workdir / DATA_FILE)
    cls = get_template(request["template"])
    params = dict(request.get("params") or {})
    target = request.get("target")
    features = request.get("features")
    runs = max(1, int(request.get("stability_runs", 3)))
    progress(0.1, f"fitting {request['template']} on {len(frame)} rows")
    fitted = cls(**params).fit(frame, target=target, features=features)
    trained = fitted.to_trained_model()
    (workdir / ARTIFACT_FILE).write_bytes(trained.artifact)
    seed_runs = [dict(trained.metrics)]
    base_seed = int(getattr(fitted, "seed", 0) or 0)
    if "seed" in fitted.get_params():
        for i in range(1, runs):
            progress(
                0.1 + 0.8 * i / runs, f"stability run {i + 1} of {runs} (seed {base_seed + i})"
            )
            again = cls(**{**params, "seed": base_seed + i}).fit(
                frame, target=target, features=features
            )
            seed_runs.append(dict(again.to_trained_model().metrics))
    progress(0.95, "profiling the training data")
    inputs = trained.signature.input_names
    report = {
        "held_out": {k: v for k, v in trained.metrics.items() if not k.startswith("baseline")},
        "baseline": {k: v for k, v in trained.metrics.items() if k.startswith("baseline")},
        "stability": stability(seed_runs),
        "feature_importance": trained.feature_importance,
        "training_profile": training_profile(frame, inputs),
        "train_seconds": round(time.perf_counter() - started, 3),
        "rows": len(frame),
    }
    return {
        "artifact_file": ARTIFACT_FILE,
        "format": trained.format,
        "signature": trained.signature.model_dump(mode="json"),
        "params": trained.params,
        "metrics": trained.metrics,
        "template": trained.template,
        "report": report,
    }


MODEL_FILE = "model.bin"
VERSION_FILE = "version.json"
RESULTS_FILE = "results.parquet"
_CHUNK_ROWS = 50_000


def batch_predict(_request: dict[str, Any], workdir: Path, progress: Progress) -> dict[str, Any]:
    """Predict every row of the dataset in the work folder with the model version there.

    Rows go through the same signature checks and encoding as online predictions, in chunks,
    and the predictions are written as Parquet: the dataset's rows in order with a
    ``prediction`` column (and ``p_<class>`` columns for classifiers); per-unit and
    per-series models give one row per prediction with their keys instead.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from maas.runtimes.catalog import get_runtime
    from maas.runtimes.encoding import columns_to_matrix
    from maas.schemas.models import VersionRead

    version = VersionRead.model_validate_json((workdir / VERSION_FILE).read_bytes())
    predictor = get_runtime(version.format).load(
        (workdir / MODEL_FILE).read_bytes(), version.signature
    )
    frame = pd.read_parquet(workdir / DATA_FILE)
    names = version.signature.input_names
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise InvalidParameterError(
            f"The dataset lacks input column {missing[0]!r} of model {version.model!r}.",
            field="dataset",
            expected=names,
            received=list(frame.columns),
        )
    grouped = version.signature.group_by is not None
    step = len(frame) if grouped else _CHUNK_ROWS
    outputs: list[pd.DataFrame] = []
    for start in range(0, max(len(frame), 1), max(step, 1)):
        chunk = frame.iloc[start : start + step]
        columns = {n: chunk[n].astype(object).where(chunk[n].notna(), None).tolist() for n in names}
        x = columns_to_matrix(columns, version.signature, model=f"model {version.model!r}")
        result = predictor.predict(x)
        part = (
            pd.DataFrame(result.keys)
            if result.keys is not None
            else pd.DataFrame(index=chunk.index)
        )
        part["prediction"] = np.asarray(result.predictions)
        if result.probabilities is not None:
            for j, label in enumerate(version.signature.classes or []):
                part[f"p_{label}"] = np.asarray(result.probabilities)[:, j]
        if result.quantiles is not None:
            for level, values in result.quantiles.items():
                part[f"q_{level}"] = np.asarray(values)
        outputs.append(part)
        progress(min(0.95, (start + len(chunk)) / max(len(frame), 1)), f"{start + len(chunk)} rows")
    table = pa.Table.from_pandas(pd.concat(outputs, ignore_index=True), preserve_index=False)
    pq.write_table(table, workdir / RESULTS_FILE)
    return {"results_file": RESULTS_FILE, "rows": table.num_rows}


_WORK: dict[str, WorkFunction] = {"train": train, "batch_predict": batch_predict}


def work_function(kind: str) -> WorkFunction:
    """Raises: InvalidParameterError for an unknown kind."""
    try:
        return _WORK[kind]
    except KeyError:
        raise InvalidParameterError(
            f"Unknown job kind {kind!r}; known: {sorted(_WORK)}.", field="kind", received=kind
        ) from None
