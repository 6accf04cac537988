"""The model ``benchmarks/serving.py`` serves: a 200-tree LightGBM failure classifier on generated
AI4I-like rows, how it is registered, how request bodies are encoded, and its in-process ceiling.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL = "bench-failure"
FEATURES = [
    "type",
    "air_temperature_k",
    "process_temperature_k",
    "rotational_speed_rpm",
    "torque_nm",
    "tool_wear_min",
]
TREES = 200


# --- the model -----------------------------------------------------------------------------


@dataclass
class Model:
    booster: Any
    artifact: bytes
    """The LightGBM envelope the server loads."""
    signature: Any
    frame: Any
    """100,000 generated rows (features only), the source of every request body."""
    matrix: Any
    """``frame`` encoded as the server encodes it (float32; categories as their index)."""


def train_model() -> Model:
    """Train the 200-tree binary classifier on 10,000 generated AI4I-like rows."""
    import lightgbm as lgb
    import numpy as np

    from maas.domain.signature import Signature, Task
    from maas.ml.features import encode_frame, infer_columns
    from maas.ml.synthetic import machine_conditions
    from maas.ml.templates.base import dump_lightgbm_artifact

    data = machine_conditions(n=10_000, seed=0)
    columns = infer_columns(data, FEATURES)
    signature = Signature(inputs=columns, task=Task.CLASSIFICATION, classes=["0", "1"])
    params = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 31, "seed": 0}
    params |= {"num_threads": os.cpu_count() or 1, "verbose": -1}
    train = lgb.Dataset(encode_frame(data, signature), label=data["machine_failure"])
    booster = lgb.train(params, train, TREES)
    artifact = dump_lightgbm_artifact(
        booster, task="classification", classes=["0", "1"], threshold=None
    )
    frame = machine_conditions(n=100_000, seed=1)[FEATURES]
    matrix = np.ascontiguousarray(encode_frame(frame, signature))
    return Model(booster, artifact, signature, frame, matrix)


def register_locally(data_dir: Path, model: Model) -> int:
    """Register the model in a stopped server's data folder through the server's own services
    (as the example models are) and point ``production`` at it. Returns the version.

    The HTTP upload route takes ONNX files only, so this is the way in for a LightGBM envelope.
    """
    from maas.api.app import build_services
    from maas.domain.principal import Principal
    from maas.domain.roles import Role
    from maas.observability.metrics import Metrics
    from maas.settings import Settings

    settings = Settings(
        data_dir=data_dir, examples=False, job_workers=0, database_url=None, artifact_uri=None,
        master_key=None, master_key_file=None, config_file=None,
    )  # fmt: skip
    services, _ = build_services(settings, Metrics())
    try:
        tenant = services.keys.default_tenant()
        system = Principal("benchmark", "benchmark", Role.ADMIN, tenant.id, tenant.name)
        version = services.registry.register_version(
            system, MODEL, artifact=model.artifact, format="lightgbm",
            signature=model.signature, source_dataset="synthetic:ai4i-like",
            params={"trees": TREES, "num_leaves": 31, "learning_rate": 0.05},
            description="benchmarks/serving.py: 200-tree LightGBM failure model",
        )  # fmt: skip
        services.registry.set_alias(system, MODEL, "production", version.version)
        return version.version
    finally:
        services.close()


def json_rows(frame: Any) -> list[dict[str, Any]]:
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}
        for record in frame.to_dict("records")
    ]


def json_columns(frame: Any) -> dict[str, list[Any]]:
    return {name: frame[name].astype(object).tolist() for name in frame.columns}


def arrow_stream(frame: Any) -> bytes:
    """``frame`` as an Arrow IPC stream: the category as strings, the numbers as they are."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame.astype({"type": str}), preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def in_process(model: Model, seconds: float, repeat: int) -> dict[str, float]:
    """The ceiling, with the server idle: ``lightgbm.Booster.predict`` on the same booster, one
    float32 row on one thread (as the server runs small batches) in a loop, 1,000 rows on one
    thread and 100,000 rows on every core (as the server); then the same rows through the
    server's own LightGBM runtime, loaded from the same artifact, without HTTP. The best of
    ``repeat`` runs of each."""
    from maas.runtimes.catalog import get_runtime

    booster, x = model.booster, model.matrix
    rows, thousand, big = [x[i : i + 1] for i in range(256)], [x[:1_000]], [x[:100_000]]

    def one_thread(matrix: Any) -> Any:
        return booster.predict(matrix, num_threads=1)

    predictor = get_runtime("lightgbm").load(model.artifact, model.signature)
    return {
        "single_row_calls_per_s": _rate(one_thread, rows, seconds, repeat),
        "rows_per_s_1k": 1_000 * _rate(one_thread, thousand, seconds, repeat),
        "rows_per_s_100k": 100_000 * _rate(booster.predict, big, seconds, repeat),
        "runtime_single_row_calls_per_s": _rate(predictor.predict, rows, seconds, repeat),
        "runtime_rows_per_s_100k": 100_000 * _rate(predictor.predict, big, seconds, repeat),
    }


def _rate(call: Any, inputs: list[Any], seconds: float, repeat: int) -> float:
    """Calls a second of ``call`` over ``inputs`` in turn: the best of ``repeat`` runs of at
    least ``seconds`` and three calls each, after one call of each input."""
    for one in inputs:
        call(one)
    best = 0.0
    for _ in range(repeat):
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds or calls < 3:
            for one in inputs:
                call(one)
            calls += len(inputs)
        best = max(best, calls / (time.perf_counter() - started))
    return best
