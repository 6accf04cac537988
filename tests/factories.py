"""Typed builders that go through the services, so every invariant holds."""

from __future__ import annotations

import functools

from fastapi import FastAPI

from maas.domain.principal import Principal
from maas.domain.roles import Role
from maas.ml import synthetic
from maas.ml.templates.base import TrainedModel
from maas.ml.templates.failure import FailurePrediction
from maas.ml.templates.regression import TabularRegression
from maas.schemas.models import VersionRead


@functools.cache
def failure_model(seed: int = 0) -> TrainedModel:
    """A small machine-failure classifier (trained once per test session)."""
    frame = synthetic.machine_conditions(n=2_000, seed=seed)
    template = FailurePrediction(n_estimators=30, seed=seed)
    return template.fit(frame, target="machine_failure").to_trained_model()


@functools.cache
def tool_life_model(seed: int = 0) -> TrainedModel:
    """A small regression model."""
    frame = synthetic.tool_life(n=1_000, seed=seed)
    template = TabularRegression(n_estimators=30, seed=seed)
    return template.fit(frame, target="remaining_tool_life_min").to_trained_model()


def system_principal(app: FastAPI, role: Role = Role.ADMIN) -> Principal:
    tenant = app.state.services.keys.default_tenant()
    return Principal("test", "test", role, tenant.id, tenant.name)


def register(
    app: FastAPI,
    name: str,
    trained: TrainedModel | None = None,
    *,
    alias: str | None = "production",
    principal: Principal | None = None,
) -> VersionRead:
    trained = trained or failure_model()
    who = principal or system_principal(app)
    registry = app.state.services.registry
    version = registry.register_version(
        who,
        name,
        artifact=trained.artifact,
        format=trained.format,
        signature=trained.signature,
        params=trained.params,
        metrics=trained.metrics,
        template=trained.template,
    )
    if alias:
        registry.set_alias(who, name, alias, version.version)
    return version
