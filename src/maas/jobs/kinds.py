"""The child-side work of each kind of job, by name (a fixed table: never an import string)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maas.domain.signature import Signature
from maas.errors import InvalidParameterError, MaasError
from maas.jobs.child import Progress, WorkFunction
from maas.ml.report import stability, training_profile
from maas.ml.templates.base import TrainedModel
from maas.ml.templates.catalog import get_template

__all__ = ["DATA_FILE", "work_function"]

DATA_FILE = "data.parquet"
ARTIFACT_FILE = "artifact.bin"
MODEL_FILE = "model.bin"
VERSION_FILE = "version.json"
RESULTS_FILE = "results.parquet"
_CHUNK_ROWS = 50_000


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
    _, result = _fit_and_report(request, frame, workdir, progress, started=started)
    return result


def _fit_and_report(
    request: dict[str, Any],
    frame: pd.DataFrame,
    workdir: Path,
    progress: Progress,
    *,
    started: float,
    share: float = 1.0,
) -> tuple[TrainedModel, dict[str, Any]]:
    """Fit, refit for stability, profile; write the artifact; ``share`` of the progress bar."""
    cls = get_template(request["template"])
    params = dict(request.get("params") or {})
    target = request.get("target")
    features = request.get("features")
    runs = max(1, int(request.get("stability_runs", 3)))
    progress(0.1 * share, f"fitting {request['template']} on {len(frame)} rows")
    fitted = cls(**params).fit(frame, target=target, features=features)
    trained = fitted.to_trained_model()
    (workdir / ARTIFACT_FILE).write_bytes(trained.artifact)
    seed_runs = [dict(trained.metrics)]
    base_seed = int(getattr(fitted, "seed", 0) or 0)
    if "seed" in fitted.get_params():
        for i in range(1, runs):
            progress(
                (0.1 + 0.8 * i / runs) * share,
                f"stability run {i + 1} of {runs} (seed {base_seed + i})",
            )
            again = cls(**{**params, "seed": base_seed + i}).fit(
                frame, target=target, features=features
            )
            seed_runs.append(dict(again.to_trained_model().metrics))
    progress(0.95 * share, "profiling the training data")
    inputs = trained.signature.input_names
    report = {
        "held_out": {k: v for k, v in trained.metrics.items() if not k.startswith("baseline")},
        "baseline": {k: v for k, v in trained.metrics.items() if k.startswith("baseline")},
        "stability": stability(seed_runs),
        "feature_importance": trained.feature_importance,
        "plots": trained.plots,
        "training_profile": training_profile(frame, inputs),
        "prediction_profile": prediction_profile(trained, frame),
        "train_seconds": round(time.perf_counter() - started, 3),
        "rows": len(frame),
    }
    return trained, {
        "artifact_file": ARTIFACT_FILE,
        "format": trained.format,
        "signature": trained.signature.model_dump(mode="json"),
        "params": trained.params,
        "metrics": trained.metrics,
        "template": trained.template,
        "report": report,
    }


_PROFILE_ROWS = 5_000
"""Rows of the training data the prediction profile is taken on (per-row models)."""


def prediction_profile(trained: TrainedModel, frame: pd.DataFrame) -> dict[str, Any] | None:
    """The distribution of the model's answers on its training data, as one column of a
    training profile: the reference drift checks compare live predictions with.

    Binary classifiers: the probability of the second class; other classifiers: the labels;
    everything else: the predicted number. Per-row models answer a seeded sample of at most
    ``_PROFILE_ROWS`` rows, per-unit and per-series models the whole frame. ``None`` when the
    model cannot answer its own training data as served (the profile is then left out).
    """
    from maas.runtimes.catalog import get_runtime

    signature = trained.signature
    sample = frame
    if signature.group_by is None and len(frame) > _PROFILE_ROWS:
        sample = frame.sample(_PROFILE_ROWS, random_state=0).sort_index()
    try:
        predictor = get_runtime(trained.format).load(trained.artifact, signature)
        result = predictor.predict(frame_to_matrix(sample, signature, "the new model"))
    except MaasError:
        return None
    classes = signature.classes
    if classes and len(classes) == 2 and result.probabilities is not None:
        values: Any = np.asarray(result.probabilities, dtype=np.float64)[:, 1]
    elif classes:
        values = pd.Series(np.asarray(result.predictions).astype(str), dtype="string")
    else:
        values = np.asarray(result.predictions, dtype=np.float64)
    column = training_profile(pd.DataFrame({"prediction": values}), ["prediction"])
    return column["columns"].get("prediction")  # type: ignore[no-any-return]


def retrain(request: dict[str, Any], workdir: Path, progress: Progress) -> dict[str, Any]:
    """Fit a challenger on part of the new data; score it and the champion on the rest.

    Request: what ``train`` takes, plus ``metric``, ``min_improvement``, ``holdout_fraction``,
    ``seed`` and ``new_from`` (the first row the champion's data did not have, or null). The
    champion's artifact and version are in the work folder. See ``maas.ml.comparison``.
    """
    from maas.ml.comparison import LOWER_IS_BETTER, decide, score, split_holdout
    from maas.runtimes.catalog import get_runtime
    from maas.schemas.models import VersionRead

    started = time.perf_counter()
    progress(0.02, "reading the dataset")
    frame = pd.read_parquet(workdir / DATA_FILE)
    champion = VersionRead.model_validate_json((workdir / VERSION_FILE).read_bytes())
    holdout = split_holdout(
        frame,
        request["template"],
        request["params"],
        request.get("target"),
        fraction=float(request["holdout_fraction"]),
        seed=int(request["seed"]),
        new_from=request.get("new_from"),
    )
    progress(0.05, f"holding out {len(holdout.held_out)} rows ({holdout.kind}) to compare on")
    trained, result = _fit_and_report(
        request, holdout.fit, workdir, progress, started=started, share=0.85
    )
    progress(0.88, f"scoring the challenger and version {champion.version} on the held-out rows")
    scores = {}
    for side, artifact, signature in (
        ("champion", (workdir / MODEL_FILE).read_bytes(), champion.signature),
        ("challenger", trained.artifact, trained.signature),
    ):
        predictor = get_runtime(champion.format if side == "champion" else trained.format).load(
            artifact, signature
        )
        label = f"model {champion.model!r} ({side})"
        scores[side] = score(
            holdout,
            lambda df, p=predictor, s=signature, m=label: p.predict(frame_to_matrix(df, s, m)),
            signature.classes,
        )
    metric = request["metric"]
    promoted, improvement, reason = decide(
        metric,
        scores["champion"],
        scores["challenger"],
        min_improvement=float(request.get("min_improvement", 0.0)),
    )
    result["report"]["comparison"] = {
        "metric": metric,
        "direction": "lower" if metric in LOWER_IS_BETTER else "higher",
        "min_improvement": float(request.get("min_improvement", 0.0)),
        "champion": {
            "version": champion.version,
            "dataset": request.get("champion_dataset"),
            "metrics": scores["champion"],
        },
        "challenger": {
            "dataset": f"{request['dataset']}@{request['dataset_version']}",
            "metrics": scores["challenger"],
        },
        "improvement": improvement,
        "promoted": promoted,
        "reason": reason,
        "holdout": holdout.describe(),
    }
    progress(0.97, reason)
    return result


def frame_to_matrix(frame: pd.DataFrame, signature: Signature, model: str) -> np.ndarray:
    """A frame's input columns as the model's input matrix, through the same checks and
    encoding as an online prediction by columns.

    Raises:
        InvalidParameterError: an input column is missing.
        SchemaMismatchError, InvalidInputError: a value does not fit its column.
    """
    from maas.runtimes.encoding import columns_to_matrix

    names = signature.input_names
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise InvalidParameterError(
            f"The data lacks input column {missing[0]!r} of {model}.",
            field="dataset",
            expected=names,
            received=list(frame.columns),
        )
    columns = {n: _json_values(frame[n]) for n in names}
    return columns_to_matrix(columns, signature, model=model)


def _json_values(series: pd.Series) -> list[Any]:
    """A column's values as a JSON body would carry them: missing as None, times as ISO 8601."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        text = series.map(lambda t: t.isoformat(), na_action="ignore")
        return text.astype(object).where(series.notna(), None).tolist()
    return series.astype(object).where(series.notna(), None).tolist()


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
    from maas.schemas.models import VersionRead

    version = VersionRead.model_validate_json((workdir / VERSION_FILE).read_bytes())
    predictor = get_runtime(version.format).load(
        (workdir / MODEL_FILE).read_bytes(), version.signature
    )
    frame = pd.read_parquet(workdir / DATA_FILE)
    grouped = version.signature.group_by is not None
    step = len(frame) if grouped else _CHUNK_ROWS
    outputs: list[pd.DataFrame] = []
    for start in range(0, max(len(frame), 1), max(step, 1)):
        chunk = frame.iloc[start : start + step]
        x = frame_to_matrix(chunk, version.signature, f"model {version.model!r}")
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
        if result.anomalies is not None:
            part["anomaly"] = np.asarray(result.anomalies, dtype=bool)
        outputs.append(part)
        progress(min(0.95, (start + len(chunk)) / max(len(frame), 1)), f"{start + len(chunk)} rows")
    table = pa.Table.from_pandas(pd.concat(outputs, ignore_index=True), preserve_index=False)
    pq.write_table(table, workdir / RESULTS_FILE)
    return {"results_file": RESULTS_FILE, "rows": table.num_rows}


_WORK: dict[str, WorkFunction] = {
    "train": train,
    "batch_predict": batch_predict,
    "retrain": retrain,
}


def work_function(kind: str) -> WorkFunction:
    """Raises: InvalidParameterError for an unknown kind."""
    try:
        return _WORK[kind]
    except KeyError:
        raise InvalidParameterError(
            f"Unknown job kind {kind!r}; known: {sorted(_WORK)}.", field="kind", received=kind
        ) from None
