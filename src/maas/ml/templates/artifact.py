"""The ``template`` artifact envelope: a template's fitted state as plain JSON.

::

    {"maas_artifact": "template", "artifact_version": 1,
     "template": "<spec name in ml.templates.catalog>",
     "state": {...}}   # LightGBM boosters as model text, arrays as lists: never pickle

Written here by the templates; read by ``runtimes/template.py``.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "LIGHTGBM_ARTIFACT",
    "LIGHTGBM_ARTIFACT_VERSION",
    "TEMPLATE_ARTIFACT",
    "TEMPLATE_ARTIFACT_VERSION",
    "dump_template_artifact",
]

TEMPLATE_ARTIFACT = "template"
TEMPLATE_ARTIFACT_VERSION = 1
LIGHTGBM_ARTIFACT = "lightgbm"
"""The ``maas_artifact`` tag of a LightGBM envelope, and the format it is registered under
(written by ``templates.base.dump_lightgbm_artifact``; kept here so that readers need not
import the training code)."""
LIGHTGBM_ARTIFACT_VERSION = 1
"""The envelope layout version written; readers refuse versions they do not know."""


def dump_template_artifact(template: str, state: dict[str, Any]) -> bytes:
    """Serialise a template's JSON state as a ``template`` artifact (deterministic bytes).

    Raises:
        ValueError: the state holds NaN or infinity (not JSON).
        TypeError: the state holds something that is not JSON.
    """
    envelope = {
        "maas_artifact": TEMPLATE_ARTIFACT,
        "artifact_version": TEMPLATE_ARTIFACT_VERSION,
        "template": template,
        "state": state,
    }
    return json.dumps(envelope, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
