"""Walks the OpenAPI document: every route refuses no key (401) and too small a role (403).

A route added later without a rule in ``api/permissions.py`` makes the app refuse to start,
and one whose rule is wrong fails here.
"""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from maas.api.permissions import ANY_KEY, PUBLIC, ROUTE_ROLES
from maas.domain.roles import Role
from tests.factories import system_principal

WEAKER = {
    Role.CONSUMER: Role.VIEWER,
    Role.VIEWER: Role.CONSUMER,
    Role.DEVELOPER: Role.VIEWER,
    Role.ADMIN: Role.DEVELOPER,
}


def _operations(app: FastAPI) -> list[tuple[str, str, str]]:
    doc = app.openapi()
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            concrete = re.sub(r"\{[^}]+\}", "x1", path).replace("versions/x1", "versions/1")
            out.append((method.upper(), concrete, op["operationId"]))
    return out


def test_every_route_has_exactly_one_rule(app: FastAPI) -> None:
    ids = [op for _, _, op in _operations(app)]
    for op in ids:
        rules = (op in PUBLIC) + (op in ANY_KEY) + (op in ROUTE_ROLES)
        assert rules == 1, f"{op} has {rules} rules"
    assert set(ROUTE_ROLES) | ANY_KEY | PUBLIC == set(ids) | (PUBLIC - set(ids))


def test_every_route_needs_a_key_and_the_right_role(app: FastAPI) -> None:
    keys = app.state.services.keys
    app.state.services.anonymous_limiter.rate = 0  # this walk makes many key-less requests
    admin = system_principal(app)
    secrets = {role: keys.create_key(admin, name=str(role), role=role).key for role in Role}
    checked = 0
    with TestClient(app) as c:
        for method, path, op in _operations(app):
            if op in PUBLIC:
                assert c.request(method, path).status_code < 400, op
                continue
            r = c.request(method, path)
            assert r.status_code == 401, f"{method} {path} without a key gave {r.status_code}"
            if op in ANY_KEY:
                continue
            weaker = WEAKER[ROUTE_ROLES[op]]
            r = c.request(method, path, headers={"Authorization": f"Bearer {secrets[weaker]}"})
            assert r.status_code == 403, f"{method} {path} with {weaker} gave {r.status_code}"
            checked += 1
    assert checked >= 20


@pytest.mark.parametrize(
    ("role", "needed", "allowed"),
    [
        (Role.ADMIN, Role.CONSUMER, True),
        (Role.DEVELOPER, Role.VIEWER, True),
        (Role.VIEWER, Role.CONSUMER, False),
        (Role.CONSUMER, Role.VIEWER, False),
        (Role.DEVELOPER, Role.ADMIN, False),
        (Role.CONSUMER, Role.CONSUMER, True),
    ],
)
def test_role_order(role: Role, needed: Role, allowed: bool) -> None:
    assert role.allows(needed) is allowed
