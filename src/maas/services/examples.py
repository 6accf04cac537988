"""Example manufacturing models, trained at first start on data the package generates."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from maas.domain.principal import Principal
from maas.ml import synthetic
from maas.ml.templates.failure import FailurePrediction
from maas.ml.templates.regression import TabularRegression
from maas.services.registry import RegistryService

__all__ = ["EXAMPLES", "Example", "install_examples"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    name: str
    description: str
    train: Callable[[int], tuple[object, str]]


def _machine_failure(seed: int) -> tuple[object, str]:
    frame = synthetic.machine_conditions(n=10_000, seed=seed)
    return FailurePrediction(seed=seed).fit(frame, target="machine_failure"), "synthetic:ai4i-like"


def _tool_life(seed: int) -> tuple[object, str]:
    frame = synthetic.tool_life(n=5_000, seed=seed)
    template = TabularRegression(seed=seed)
    return template.fit(frame, target="remaining_tool_life_min"), "synthetic:tool-life"


EXAMPLES = (
    Example(
        "machine-failure",
        "Will this machine fail? Machine-condition readings (product type, air and process "
        "temperature, speed, torque, tool wear) → failure, with its probability. Trained on "
        "generated AI4I-2020-like data.",
        _machine_failure,
    ),
    Example(
        "tool-life",
        "Minutes of cutting left for a tool, from speed, torque, feed, material and coolant. "
        "Trained on generated data following Taylor's tool-life law.",
        _tool_life,
    ),
)


def install_examples(
    registry: RegistryService, principal: Principal, *, seed: int = 0
) -> list[str]:
    """Train and register each example that is not registered yet; point ``production`` at it.

    Returns:
        The names of the models registered now.
    """
    installed: list[str] = []
    existing, _ = registry.list_models(principal, limit=500)
    have = {m.name for m in existing}
    for example in EXAMPLES:
        if example.name in have:
            continue
        started = time.perf_counter()
        fitted, source = example.train(seed)
        trained = fitted.to_trained_model()  # type: ignore[attr-defined]
        version = registry.register_version(
            principal,
            example.name,
            artifact=trained.artifact,
            format=trained.format,
            signature=trained.signature,
            params=trained.params,
            metrics=trained.metrics,
            template=trained.template,
            source_dataset=source,
            description="Example model trained at first start.",
        )
        registry.update_model(principal, example.name, description=example.description)
        registry.set_alias(principal, example.name, "production", version.version)
        log.info(
            "example model %s v%d trained in %.1f s",
            example.name,
            version.version,
            time.perf_counter() - started,
        )
        installed.append(example.name)
    return installed
