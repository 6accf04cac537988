"""The monitoring methods of ``AsyncClient``: ``MonitoringMethods`` (in ``_monitoring``) as
coroutines, mixed in the same way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar, overload

from maas.client import _monitoring_operations as _ops
from maas.client._base import USE_CLIENT_DEFAULT, Call, TimeoutArg
from maas.client._monitoring_operations import (
    UNCHANGED,
    ActualInput,
    FeedbackInput,
    PredictionLogFormat,
    Unchanged,
)
from maas.schemas.monitoring import (
    DriftRead,
    FeedbackResult,
    LiveMetricsRead,
    MonitoringRead,
    PredictionLogPage,
    RetrainPolicy,
    TrafficRead,
)

__all__ = ["AsyncMonitoringMethods"]

T = TypeVar("T")


class AsyncMonitoringMethods:
    """``AsyncClient``'s monitoring methods: ``MonitoringMethods`` as coroutines."""

    async def _send(self, call: Call[T], timeout: TimeoutArg) -> T:
        raise NotImplementedError  # the client mixing this in sends

    async def traffic(
        self, name: str, minutes: int = 60, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> TrafficRead:
        """Live traffic of a model: requests, errors and p50/p99 latency per minute, every
        server process added up (as fresh as the server's last write of its counts, every
        ``MAAS_MONITORING_FLUSH_SECONDS``).

        Args:
            name: the model's name.
            minutes: how many minutes back, the current one included (1-1440).

        Returns:
            One point per minute, oldest first; minutes without traffic count 0 requests.

        Raises:
            ModelNotFoundError: no model has this name.
            InvalidInputError: ``minutes`` is out of range.
        """
        return await self._send(_ops.traffic(name, minutes), timeout)

    @overload
    async def predictions_log(
        self,
        ref: str,
        limit: int = ...,
        *,
        format: Literal["json"] = ...,
        timeout: TimeoutArg = ...,
    ) -> PredictionLogPage: ...

    @overload
    async def predictions_log(
        self,
        ref: str,
        limit: int = ...,
        *,
        format: Literal["parquet"],
        timeout: TimeoutArg = ...,
    ) -> bytes: ...

    async def predictions_log(
        self,
        ref: str,
        limit: int = 1000,
        *,
        format: PredictionLogFormat = "json",  # noqa: A002 - the parameter's name on the wire
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> PredictionLogPage | bytes:
        """The newest logged predictions of a model: each one's id, output, answering
        version, time and latency, its inputs when it was in the sample, and any feedback.

        Args:
            ref: ``NAME`` (every version), ``NAME@VERSION`` or ``NAME@ALIAS`` (that version).
            limit: the most predictions to return (1-100000).
            format: ``json`` for a ``PredictionLogPage``; ``parquet`` for a Parquet file's
                bytes (columns ``prediction_id``, ``version``, ``at``, ``prediction``,
                ``p_<class>``, ``input.<column>``, ``actual``, ...; read it with
                ``pandas.read_parquet(io.BytesIO(data))``).

        Returns:
            The predictions, newest first, as a ``PredictionLogPage`` or as bytes.

        Raises:
            InvalidParameterError: ``format`` is not json or parquet (raised before sending).
            ModelNotFoundError / AliasNotFoundError / VersionNotFoundError: ``ref`` names
                nothing.
        """
        _ops.check_log_format(format)
        if format == "parquet":
            return await self._send(_ops.predictions_parquet(ref, limit), timeout)
        return await self._send(_ops.predictions_log(ref, limit), timeout)

    async def send_feedback(
        self,
        prediction_id: str | None = None,
        actual: ActualInput | None = None,
        *,
        items: FeedbackInput | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> FeedbackResult:
        """Send the actual outcome of earlier predictions, by the id their answer carried
        (``PredictResponse.prediction_ids``): one (``prediction_id`` and ``actual``) or many
        (``items``, up to 10,000, recorded all or none). The last outcome sent for an id wins.

        ``await client.send_feedback("19ab…-0", "1")``, or
        ``await client.send_feedback(items={"19ab…-0": "1", "19ab…-1": "0"})``.

        Args:
            prediction_id: the prediction's id.
            actual: what really happened: the class label for a classifier (``1`` and
                ``True`` are read as ``"1"``), a number for everything else.
            items: many outcomes: ``{prediction_id: actual}``, or a sequence of
                ``FeedbackItem``, ``{"prediction_id", "actual"}`` mappings or
                ``(prediction_id, actual)`` pairs.

        Returns:
            How many outcomes were recorded.

        Raises:
            InvalidInputError: not exactly one of (``prediction_id`` and ``actual``) and
                ``items`` is given (raised before sending), or an actual does not fit its
                model (a label outside the classes, text for a number).
            InvalidParameterError: an item is malformed (raised before sending).
            PredictionNotFoundError: an id was never logged, was pruned, or is another
                tenant's; ``field`` says which item.
        """
        return await self._send(_ops.send_feedback(prediction_id, actual, items), timeout)

    async def live_metrics(
        self,
        name: str,
        version: int | None = None,
        bucket: Literal["hour", "day"] = "hour",
        days: int | None = None,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> LiveMetricsRead:
        """Metrics of a model's predictions that received feedback, per version and per hour
        or day of the prediction: accuracy (and precision, recall, F1) for classifiers, RMSE,
        MAE and bias for numbers, coverage for quantile forecasts.

        Args:
            name: the model's name.
            version: only this version; every version by default.
            bucket: ``hour`` or ``day``.
            days: how many days back; 7 for hours, 30 for days by default.

        Raises:
            ModelNotFoundError: no model has this name.
            VersionNotFoundError: the model has no such version.
            InvalidInputError: ``bucket`` or ``days`` is out of range.
        """
        return await self._send(_ops.live_metrics(name, version, bucket, days), timeout)

    async def check_drift(
        self,
        name: str,
        version: int | None = None,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> DriftRead:
        """Check a model's drift now: the inputs logged in its window against the version's
        training profile (or its first logged inputs), per feature, and its predictions.
        A change of state calls the model's webhook, and a change to ``alert`` starts
        retraining when its policy asks for it (``DriftRead.retraining`` names the job).

        Args:
            name: the model's name.
            version: the version to check; by default the one that answered last.

        Returns:
            The check (``state``: ``ok``, ``warning``, ``alert``, or ``no_data`` with a
            ``message`` saying why), with the model's earlier checks in ``history``.

        Raises:
            ModelNotFoundError: no model has this name.
            VersionNotFoundError: the model has no such version.
        """
        return await self._send(_ops.check_drift(name, version), timeout)

    async def get_drift(self, name: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> DriftRead:
        """A model's drift state: its last check (scheduled or not) and the ones before it,
        without checking again.

        Raises:
            ModelNotFoundError: no model has this name.
        """
        return await self._send(_ops.get_drift(name), timeout)

    async def get_monitoring(
        self, name: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> MonitoringRead:
        """A model's monitoring settings (the server's defaults filled in), its drift state
        and its recent webhook deliveries. The webhook secret is never shown here.

        Raises:
            ModelNotFoundError: no model has this name.
        """
        return await self._send(_ops.get_monitoring(name), timeout)

    async def set_monitoring(
        self,
        name: str,
        *,
        psi_warning: float | None | Unchanged = UNCHANGED,
        psi_alert: float | None | Unchanged = UNCHANGED,
        sample_rate: float | None | Unchanged = UNCHANGED,
        window_hours: float | None | Unchanged = UNCHANGED,
        min_rows: int | None | Unchanged = UNCHANGED,
        webhook_url: str | None | Unchanged = UNCHANGED,
        rotate_webhook_secret: bool = False,
        retrain_on_alert: RetrainPolicy | Mapping[str, Any] | None | Unchanged = UNCHANGED,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> MonitoringRead:
        """Change a model's monitoring settings: only those given; ``None`` returns one to
        the server's default (``webhook_url=None``: no webhook).

        Args:
            name: the model's name.
            psi_warning: PSI from which a feature's drift is a ``warning``.
            psi_alert: PSI from which it is an ``alert`` (larger than ``psi_warning``).
            sample_rate: the share of predictions whose inputs are logged (0-1).
            window_hours: how far back a drift check looks.
            min_rows: the fewest logged inputs a drift check needs to say anything.
            webhook_url: where drift state changes are POSTed, signed with the model's secret.
            rotate_webhook_secret: make a new webhook secret.
            retrain_on_alert: the retraining policy, e.g. ``{"enabled": True, "metric":
                "f1"}``: on a change to ``alert``, train a challenger on the newest data and
                promote it only if it beats the current version on ``metric``.

        Returns:
            The settings now; ``webhook_secret`` (``whsec_...``) is set only when a webhook
            URL is first set or the secret rotated: keep it, it is not shown again.

        Raises:
            InvalidParameterError: a setting is out of range or malformed (raised before
                sending when it can be), ``psi_warning`` is not below ``psi_alert``, the
                webhook URL is refused, or the policy is enabled without a metric.
            ModelNotFoundError: no model has this name.
        """
        call = _ops.set_monitoring(
            name,
            psi_warning=psi_warning,
            psi_alert=psi_alert,
            sample_rate=sample_rate,
            window_hours=window_hours,
            min_rows=min_rows,
            webhook_url=webhook_url,
            rotate_webhook_secret=rotate_webhook_secret,
            retrain_on_alert=retrain_on_alert,
        )
        return await self._send(call, timeout)
