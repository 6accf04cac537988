"""The one place every finished online prediction passes through, whatever the transport.

REST ``/v1`` (JSON and Arrow, the lean endpoint and its FastAPI twin) and the Open Inference
Protocol ``/v2`` call ``observe_prediction`` once per request, after the model answered and
before the response is written. Whatever must see predictions (the audit counts, the metrics,
a prediction log) is called from here, so that no transport can forget one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from maas.domain.principal import Principal
from maas.domain.request_context import request_id_var
from maas.services.serving import Served

__all__ = ["observe_failure", "observe_prediction"]


def observe_prediction(
    app_state: Any, principal: Principal, served: Served, x: np.ndarray, seconds: float
) -> list[str | None] | None:
    """Record a finished prediction: who asked (``principal``), which version answered and
    what it said (``served``), the encoded input matrix the model saw (``x``, in signature
    order) and the time spent encoding and predicting (``seconds``). No I/O: counters and
    buffers only.

    Returns:
        The prediction log's id of each prediction (``None`` where not logged), or ``None``
        when nothing of this request was logged.
    """
    services = app_state.services
    version = served.version
    services.audit.count_prediction(principal, version.model, version.version)
    app_state.metrics.observe_prediction(
        version.model, version.version, len(served.prediction.predictions), seconds
    )
    return services.monitoring.observe(  # type: ignore[no-any-return]
        principal.tenant_id, version, x, served.prediction, seconds, request_id_var.get()
    )


def observe_failure(app_state: Any, principal: Principal, ref: str) -> None:
    """Count a prediction request for ``ref`` that failed after its key was checked (bad
    input, unknown version, timeout, model failure) in the model's live traffic. No I/O."""
    app_state.services.monitoring.observe_error(principal.tenant_id, ref.partition("@")[0])
