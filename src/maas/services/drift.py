"""Drift checks: recent logged inputs (and predictions) of a model version against its
reference, on demand and on a schedule, with a state per model, webhooks on state changes and
an optional retraining on alert.

The reference of the inputs is the version's training profile (``report.training_profile``,
written for every version trained from a template). Uploaded versions have none: their first
``reference_rows`` logged inputs become the reference, and the check compares only what was
logged after them (until then the state is ``no_data``, saying how many are still needed).
The predictions are compared the same way with ``report.prediction_profile`` when the report
has one, otherwise with the version's first logged predictions. Binary classifiers are compared
on the probability of their positive class, other classifiers on their labels, everything else
on the predicted number.

The model's state is the latest check's; a change to ``warning`` or ``alert``, or back to
``ok``, sends the model's webhook, and a change to ``alert`` starts retraining when the model's
policy asks for it. ``no_data`` changes nothing.

Scheduled checks run every ``interval`` seconds in each server process, for each model with
inputs logged since the last pass; a lease row per model (``monitoring_leases``) makes sure
only one process checks a given model per interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from maas.domain.principal import Principal
from maas.domain.roles import Role
from maas.domain.signature import Task
from maas.errors import MaasError, NotFoundError
from maas.ml.drift import FeatureDrift, Thresholds, compare, compare_sample, overall_state
from maas.schemas.models import VersionRead
from maas.schemas.monitoring import DriftHistoryPoint, DriftRead, DriftWindow, RetrainPolicy
from maas.services.prediction_log import PredictionLog
from maas.services.registry import RegistryService
from maas.services.webhooks import WebhookEvent, WebhookSender
from maas.store.db import Database
from maas.store.monitoring import (
    CheckRecord,
    ConfigRecord,
    MonitoringRepository,
    claim_lease,
    models_with_traffic,
)
from maas.store.prediction_log import LoggedRecord, PredictionLogRepository

__all__ = ["DriftDefaults", "DriftService", "RetrainTrigger", "monitor_principal"]

log = logging.getLogger(__name__)

RetrainTrigger = Callable[[Principal, str, RetrainPolicy], str]
"""Start retraining ``model`` for ``principal`` under ``policy``; returns the job's id.

Raises ``MaasError`` when it cannot (no dataset, bad metric, ...)."""

HISTORY = 50
"""How many earlier checks a drift document lists."""


def _now() -> datetime:
    return datetime.now(UTC)


def monitor_principal(tenant_id: str, tenant_name: str) -> Principal:
    """Who scheduled checks and the retraining they start act as, in the audit trail."""
    return Principal("drift-monitor", "drift-monitor", Role.DEVELOPER, tenant_id, tenant_name)


@dataclass(frozen=True, slots=True)
class DriftDefaults:
    """Server-wide defaults; each model may override the first four."""

    psi_warning: float = 0.1
    psi_alert: float = 0.25
    window_hours: float = 24.0
    min_rows: int = 100
    reference_rows: int = 500
    max_rows: int = 10_000


@dataclass(slots=True)
class _Window:
    rows: list[LoggedRecord]
    reference: list[LoggedRecord] | None
    since: datetime


def _columns(rows: Sequence[LoggedRecord], names: Sequence[str]) -> dict[str, list[Any]]:
    return {n: [(r.inputs or {}).get(n) for r in rows] for n in names}


def _prediction_values(rows: Sequence[LoggedRecord], version: VersionRead) -> list[Any]:
    sig = version.signature
    positive = sig.classes[1] if sig.classes and len(sig.classes) == 2 else None
    out: list[Any] = []
    for r in rows:
        output = r.output or {}
        if sig.task is Task.CLASSIFICATION and positive is not None:
            out.append((output.get("probabilities") or {}).get(positive))
        else:
            out.append(output.get("prediction"))
    return out


class DriftService:
    """Runs drift checks and keeps each model's drift state."""

    def __init__(
        self,
        db: Database,
        registry: RegistryService,
        prediction_log: PredictionLog,
        webhooks: WebhookSender,
        *,
        defaults: DriftDefaults | None = None,
        retrain: RetrainTrigger | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.db = db
        self.registry = registry
        self.log = prediction_log
        self.webhooks = webhooks
        self.defaults = defaults or DriftDefaults()
        self.retrain = retrain
        self.clock = clock
        self.interval = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def thresholds(self, config: ConfigRecord) -> Thresholds:
        return Thresholds(
            config.psi_warning or self.defaults.psi_warning,
            config.psi_alert or self.defaults.psi_alert,
        )

    # reading ----------------------------------------------------------------------------

    def latest(self, principal: Principal, name: str) -> DriftRead:
        """The model's last check with its history (``no_data`` before the first one).

        Raises:
            ModelNotFoundError: no such model in the caller's tenant.
        """
        with self.db.session() as session:
            repo = MonitoringRepository(session, principal.tenant_id)
            model_id = repo.model_id(name)
            config = repo.config(model_id)
            checks = repo.checks(model_id, limit=HISTORY)
        history = self._history(checks)
        if not checks:
            th = self.thresholds(config)
            every = f"every {self.interval:g} s" if self.interval else "off on this server"
            return DriftRead(
                model=name,
                version=None,
                state="no_data",
                checked_at=None,
                window=DriftWindow(rows=0, since=None),
                thresholds={"psi_warning": th.psi_warning, "psi_alert": th.psi_alert},
                reference=None,
                message=(
                    f"No drift check of model {name!r} has run yet: POST "
                    f"/v1/models/{name}/drift/check, or wait for the scheduled check ({every})."
                ),
                features=[],
                prediction=None,
                history=[],
            )
        return DriftRead.model_validate({**checks[0].result, "history": history})

    @staticmethod
    def _history(checks: Sequence[CheckRecord]) -> list[DriftHistoryPoint]:
        return [
            DriftHistoryPoint(
                t=c.checked_at,
                version=c.version,
                state=c.state,  # type: ignore[arg-type]
                max_psi=c.max_psi,
                features={f["name"]: f.get("psi") for f in c.result.get("features", [])},
            )
            for c in reversed(checks)
        ]

    # checking ---------------------------------------------------------------------------

    def check(
        self,
        principal: Principal,
        name: str,
        *,
        version: int | None = None,
        trigger: str = "manual",
    ) -> DriftRead:
        """Check the model now, record the result, and act on a change of state.

        Args:
            principal: the caller (scheduled checks pass ``monitor_principal``).
            name: the model.
            version: the version to check; default: the one that answered the latest logged
                prediction, else the ``production`` alias, else the latest version.
            trigger: ``manual`` or ``schedule`` (kept with the check).

        Raises:
            ModelNotFoundError, VersionNotFoundError: for the caller's tenant.
        """
        self.log.flush()  # what was just predicted counts
        now = self.clock()
        with self.db.session() as session:
            repo = MonitoringRepository(session, principal.tenant_id)
            model_id = repo.model_id(name)
            config = repo.config(model_id)
            logs = PredictionLogRepository(session, principal.tenant_id)
            th = self.thresholds(config)
            hours = config.window_hours or self.defaults.window_hours
            min_rows = config.min_rows or self.defaults.min_rows
            since = now - timedelta(hours=hours)
            if version is None:
                version = logs.latest_version(model_id, since=since)
            found = self._version(principal, name, version)
            doc: dict[str, Any] = {
                "model": name,
                "version": found.version if found else None,
                "checked_at": now,
                "thresholds": {"psi_warning": th.psi_warning, "psi_alert": th.psi_alert},
                "features": [],
                "prediction": None,
                "reference": None,
                "message": None,
            }
            if found is None:
                doc.update(
                    state="no_data",
                    window={"rows": 0, "since": since},
                    message=f"Model {name!r} has no versions yet.",
                )
            else:
                self._compare(doc, logs, model_id, found, th, since=since, min_rows=min_rows)
        return self._record(principal, name, model_id, config, doc, trigger)

    def _version(self, principal: Principal, name: str, version: int | None) -> VersionRead | None:
        if version is not None:
            return self.registry.get_version(principal, name, version)
        for selector in ("production", "latest"):
            try:
                return self.registry.resolve(principal.tenant_id, name, selector)
            except NotFoundError:
                continue
        return None

    def _window(
        self,
        logs: PredictionLogRepository,
        model_id: int,
        version: VersionRead,
        *,
        since: datetime,
        profiled: bool,
        inputs: bool,
    ) -> _Window:
        since = max(since, version.created_at)
        reference = None
        after = None
        if not profiled:
            reference = logs.recent(
                model_id,
                version=version.version,
                since=version.created_at,
                inputs=True if inputs else None,
                output=None if inputs else True,
                limit=self.defaults.reference_rows,
                oldest_first=True,
            )
            if len(reference) < self.defaults.reference_rows:
                return _Window([], reference, since)
            after = (reference[-1].at, reference[-1].id)
        rows = logs.recent(
            model_id,
            version=version.version,
            since=since,
            after=after,
            inputs=True if inputs else None,
            output=None if inputs else True,
            limit=self.defaults.max_rows,
        )
        return _Window(rows, reference, since)

    def _compare(
        self,
        doc: dict[str, Any],
        logs: PredictionLogRepository,
        model_id: int,
        version: VersionRead,
        th: Thresholds,
        *,
        since: datetime,
        min_rows: int,
    ) -> None:
        report = version.report or {}
        profile = (report.get("training_profile") or {}).get("columns")
        names = version.signature.input_names
        window = self._window(
            logs, model_id, version, since=since, profiled=bool(profile), inputs=True
        )
        doc["reference"] = "training_profile" if profile else "first_logged"
        doc["window"] = {"rows": len(window.rows), "since": window.since}
        v = version.version
        if not profile and window.reference is not None and not window.rows:
            got = len(window.reference)
            need = self.defaults.reference_rows
            doc["state"] = "no_data"
            doc["message"] = (
                f"Version {v} has no training profile (it was uploaded), so its first {need} "
                f"logged inputs become the reference; {got} are logged so far"
                + (" and none after them." if got >= need else ".")
            )
            return
        if len(window.rows) < min_rows:
            rate = self.log.rate_for(logs.tenant_id, version.model)
            doc["state"] = "no_data"
            doc["message"] = (
                f"Only {len(window.rows)} logged inputs of version {v} since "
                f"{window.since:%Y-%m-%d %H:%M} UTC; a check needs at least {min_rows} "
                f"(inputs of {rate:.0%} of predictions are logged)."
            )
            return
        current = _columns(window.rows, names)
        if profile:
            features = compare(profile, current, th)
        else:
            features = compare_sample(_columns(window.reference or [], names), current, th)
        prediction = self._prediction_drift(logs, model_id, version, th, since, min_rows)
        states = [f.state for f in features]
        if prediction is not None:
            states.append(prediction["state"])
        psis = [f.psi for f in features if f.psi is not None]
        if prediction is not None and prediction["psi"] is not None:
            psis.append(prediction["psi"])
        doc["features"] = [f.as_dict() for f in features]
        doc["prediction"] = prediction
        doc["state"] = overall_state(states)
        doc["max_psi"] = max(psis) if psis else None

    def _prediction_drift(
        self,
        logs: PredictionLogRepository,
        model_id: int,
        version: VersionRead,
        th: Thresholds,
        since: datetime,
        min_rows: int,
    ) -> dict[str, Any] | None:
        profile = (version.report or {}).get("prediction_profile")
        window = self._window(
            logs, model_id, version, since=since, profiled=bool(profile), inputs=False
        )
        if len(window.rows) < min_rows:
            return None
        current = {"prediction": _prediction_values(window.rows, version)}
        drift: FeatureDrift
        if profile:
            (drift,) = compare({"prediction": profile}, current, th)
        else:
            reference = {"prediction": _prediction_values(window.reference or [], version)}
            (drift,) = compare_sample(reference, current, th)
        out = drift.as_dict()
        return {
            "psi": out["psi"],
            "ks": out.get("ks"),
            "js": out.get("js"),
            "state": out["state"],
            "rows": out["rows"],
            "reference": "training" if profile else "first_logged",
        }

    # recording and acting ---------------------------------------------------------------

    def _record(
        self,
        principal: Principal,
        name: str,
        model_id: int,
        config: ConfigRecord,
        doc: dict[str, Any],
        trigger: str,
    ) -> DriftRead:
        max_psi = doc.pop("max_psi", None)
        with self.db.session() as session:
            previous = MonitoringRepository(session, principal.tenant_id).last_state(model_id)
        state = doc["state"]
        changed = (
            state != "no_data"
            and state != previous
            and (state != "ok" or previous in ("warning", "alert"))
        )
        if changed and state == "alert" and (config.retrain or {}).get("enabled"):
            # outside any transaction of ours: submitting a job writes to the database too
            doc["retraining"] = self._start_retraining(principal, name, config)
        read = DriftRead.model_validate({**doc, "history": []})
        stored = read.model_dump(mode="json", exclude={"history"})
        with self.db.writer() as session, session.begin():
            repo = MonitoringRepository(session, principal.tenant_id)
            repo.add_check(
                model_id,
                CheckRecord(
                    read.version, read.checked_at or self.clock(), state, max_psi, trigger, stored
                ),
            )
            checks = repo.checks(model_id, limit=HISTORY)
        if changed and config.webhook_url and config.webhook_secret:
            data = {**stored, "previous_state": previous, "max_psi": max_psi}
            self.webhooks.send(
                WebhookEvent(
                    model_id,
                    config.webhook_url,
                    config.webhook_secret,
                    "drift.state_changed",
                    data,
                )
            )
        read.history = self._history(checks)
        return read

    def _start_retraining(
        self, principal: Principal, name: str, config: ConfigRecord
    ) -> dict[str, Any]:
        if self.retrain is None:
            return {"error": "retraining is not available on this server"}
        policy = RetrainPolicy.model_validate(config.retrain or {})
        who = monitor_principal(principal.tenant_id, principal.tenant_name)
        try:
            return {"job": self.retrain(who, name, policy)}
        except MaasError as exc:
            log.warning("drift alert on %s: retraining not started: %s", name, exc.message)
            return {"error": exc.message}

    # the schedule -----------------------------------------------------------------------

    def run_scheduled(self) -> int:
        """One pass: check every model with inputs logged since the last pass whose lease
        this process gets; returns how many were checked."""
        interval = max(self.interval, 60.0)
        now = self.clock()
        self.log.flush()
        with self.db.session() as session:
            candidates = models_with_traffic(session, now - timedelta(seconds=interval))
        checked = 0
        for model in candidates:
            with self.db.writer() as session, session.begin():
                mine = claim_lease(
                    session,
                    f"drift:{model.model_id}",
                    self.log.process,
                    now=now,
                    until=now + timedelta(seconds=0.9 * interval),
                )
            if not mine:
                continue
            try:
                self.check(
                    monitor_principal(model.tenant_id, model.tenant_name),
                    model.name,
                    trigger="schedule",
                )
            except MaasError as exc:
                log.warning("scheduled drift check of %s failed: %s", model.name, exc.message)
                continue
            checked += 1
        return checked

    def start(self, interval: float) -> None:
        """Run ``run_scheduled`` every ``interval`` seconds in a daemon thread (0: never)."""
        self.interval = interval
        if interval <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(interval,), name="maas-drift-checks", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.run_scheduled()
            except Exception:  # noqa: BLE001 - try again next interval
                log.exception("scheduled drift checks failed")
