"""The child-side work of each kind of job, by name (a fixed table: never an import string)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

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


_WORK: dict[str, WorkFunction] = {"train": train}


def work_function(kind: str) -> WorkFunction:
    """Raises: InvalidParameterError for an unknown kind."""
    try:
        return _WORK[kind]
    except KeyError:
        raise InvalidParameterError(
            f"Unknown job kind {kind!r}; known: {sorted(_WORK)}.", field="kind", received=kind
        ) from None
