"""Online prediction: resolve ``NAME[@ALIAS|@VERSION]``, keep loaded models cached, predict.

``predict_async`` is the serving hot path every transport uses: it gathers concurrent small
requests into batches (``services.batching``), runs cheap predictions of trusted formats on the
event loop and everything else on worker threads, under the prediction timeout.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from maas.domain.names import parse_model_ref
from maas.domain.principal import Principal
from maas.errors import InvalidInputError, ModelTimeoutError, NotFoundError, PayloadTooLargeError
from maas.runtimes.base import Prediction, Predictor
from maas.runtimes.catalog import get_runtime
from maas.runtimes.encoding import MatrixEncoder
from maas.runtimes.table_encoding import table_to_matrix
from maas.schemas.models import VersionRead
from maas.services.batching import BatchPolicy, MicroBatcher
from maas.services.registry import RegistryService
from maas.store.artifacts.base import ArtifactStore
from maas.store.changes import ChangeFeed, LocalChangeFeed

__all__ = ["INLINE_ROWS", "BatchPolicy", "Served", "ServingService"]

log = logging.getLogger(__name__)

INLINE_ROWS = 256
"""Predictions of up to this many rows on a trusted format may run on the event loop (faster
than a thread hop); larger ones go to the thread pool, under the timeout, so they never stall
other requests."""
INLINE_SECONDS = 0.002
"""...and only while the model's measured time for them stays under this."""
_TRUSTED_FORMATS = frozenset({"lightgbm", "template"})
"""Formats whose code is ours, so their time per row is bounded (an uploaded ONNX graph may
loop for as long as it likes: it always runs on a thread, under the timeout)."""

LoadListener = Callable[[str, int, float], None]
"""Called with (model, version, seconds) each time a model is loaded into memory."""


@dataclass(frozen=True, slots=True)
class Served:
    """A prediction and the version that made it."""

    version: VersionRead
    prediction: Prediction


class ServingService:
    """Resolves refs and runs predictions without touching the database on the hot path.

    Two caches: ref → version (trusted for ``resolve_seconds`` at most, and dropped at once
    when the installation's change feed says a model changed, in this process or another) and
    artifact → loaded predictor (bounded LRU; versions are immutable, so it never goes stale).
    """

    def __init__(
        self,
        registry: RegistryService,
        artifacts: ArtifactStore,
        *,
        cache_size: int = 32,
        resolve_seconds: float = 2.0,
        max_rows: int = 200_000,
        on_load: LoadListener | None = None,
        feed: ChangeFeed | None = None,
        batching: BatchPolicy | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        self.batching = batching or BatchPolicy()
        """Default batching of every model (a model's own ``serving`` settings override it)."""
        self.timeout_seconds = timeout_seconds
        self.batcher = MicroBatcher()
        self._costs: dict[tuple[str, bool], float] = {}
        self._policies: dict[tuple[str, str], tuple[float, BatchPolicy]] = {}
        self._encoders: dict[str, MatrixEncoder] = {}
        self.feed: ChangeFeed = feed or LocalChangeFeed()
        self._generation = self.feed.generation()
        self.registry = registry
        self.artifacts = artifacts
        self.cache_size = cache_size
        self.resolve_seconds = resolve_seconds
        self.max_rows = max_rows
        self._on_load = on_load
        self._refs: dict[tuple[str, str, str | int], tuple[float, VersionRead]] = {}
        self._models: OrderedDict[str, Predictor] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    # resolution -------------------------------------------------------------------------

    def invalidate(self, tenant_id: str, name: str) -> None:
        """Forget what this process knows about where ``name``'s aliases point (and about its
        serving settings)."""
        with self._lock:
            for key in [k for k in self._refs if k[0] == tenant_id and k[1] == name]:
                del self._refs[key]
            self._policies.pop((tenant_id, name), None)

    def resolve(self, tenant_id: str, ref: str, version: int | None = None) -> VersionRead:
        """The version ``ref`` names now (``version`` overrides any selector in ``ref``).

        Raises:
            InvalidNameError, ModelNotFoundError, AliasNotFoundError, VersionNotFoundError.
        """
        name, selector = parse_model_ref(ref)
        if version is not None:
            selector = version
        key = (tenant_id, name, selector)
        now = time.monotonic()
        generation = self.feed.generation()
        if generation != self._generation:  # an alias moved somewhere: forget every ref
            with self._lock:
                self._refs.clear()
                self._policies.clear()
                self._generation = generation
        cached = self._refs.get(key)
        if cached is not None and now - cached[0] < self.resolve_seconds:
            return cached[1]
        found = self.registry.resolve(tenant_id, name, selector)
        with self._lock:
            self._refs[key] = (now, found)
        return found

    # loading ----------------------------------------------------------------------------

    def predictor(self, version: VersionRead) -> Predictor:
        """The loaded model of ``version``, loading (and verifying) it on first use.

        Raises:
            IntegrityError: the stored artifact does not match its checksum.
            UnsupportedFormatError: no runtime for its format.
        """
        key = version.artifact_uri
        with self._lock:
            found = self._models.get(key)
            if found is not None:
                self._models.move_to_end(key)
                return found
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:  # one loader per artifact; the others wait and reuse its result
            with self._lock:
                found = self._models.get(key)
            if found is not None:
                return found
            started = time.perf_counter()
            data = self.artifacts.get(version.artifact_uri, sha256=version.sha256)
            loaded = get_runtime(version.format).load(data, version.signature)
            elapsed = time.perf_counter() - started
            with self._lock:
                self._models[key] = loaded
                self._models.move_to_end(key)
                while len(self._models) > self.cache_size:
                    self._models.popitem(last=False)
                self._loading.pop(key, None)
        if self._on_load is not None:
            self._on_load(version.model, version.version, elapsed)
        return loaded

    def loaded_count(self) -> int:
        with self._lock:
            return len(self._models)

    def warm(self, tenant_id: str, names: Sequence[str], alias: str = "production") -> int:
        """Load the ``alias`` version of each model now, so first requests are not slow."""
        warmed = 0
        for name in names:
            try:
                self.predictor(self.resolve(tenant_id, f"{name}@{alias}"))
            except NotFoundError:
                continue
            warmed += 1
        return warmed

    def warm_in_background(
        self, targets: Callable[[], Iterable[tuple[str, str]]], alias: str = "production"
    ) -> threading.Thread:
        """Load the ``alias`` version of the models ``targets()`` names (tenant id, model
        name), up to the cache size, on a thread: the server answers meanwhile, and a request
        for a model being loaded waits for that load instead of starting another. Failures
        are logged, not raised."""

        def run() -> None:
            try:
                loaded = 0
                for tenant_id, name in targets():
                    if loaded >= self.cache_size:
                        break
                    loaded += self.warm(tenant_id, [name], alias)
                if loaded:
                    log.info("loaded the %s version of %d model(s)", alias, loaded)
            except Exception:  # noqa: BLE001 - warming is an optimisation: never fatal
                log.warning("warming the model cache failed", exc_info=True)

        thread = threading.Thread(target=run, name="maas-warm", daemon=True)
        thread.start()
        return thread

    # prediction -------------------------------------------------------------------------

    def _check_rows(self, n: int) -> None:
        if n > self.max_rows:
            raise PayloadTooLargeError(
                f"A request may hold at most {self.max_rows} rows. Got {n} instead.",
                field="rows",
                expected=f"<= {self.max_rows}",
                received=n,
            )

    def prepare(
        self,
        principal: Principal,
        ref: str,
        *,
        rows: Sequence[Mapping[str, Any]] | None = None,
        columns: Mapping[str, Sequence[Any]] | None = None,
        table: Any = None,
        version: int | None = None,
    ) -> tuple[VersionRead, np.ndarray]:
        """Resolve ``ref`` and encode the input for it, without predicting yet: ``rows`` (a
        list of objects), ``columns`` (name → values) or ``table`` (a ``pyarrow.Table``).

        Raises:
            InvalidInputError, SchemaMismatchError, PayloadTooLargeError, NotFoundError.
        """
        given = (rows is not None) + (columns is not None) + (table is not None)
        if given != 1:
            raise InvalidInputError(
                "Send exactly one of 'rows' (a list of objects) or 'columns' (name → list).",
                field="rows",
                expected="rows or columns",
                received="both" if given else "neither",
            )
        found = self.resolve(principal.tenant_id, ref, version)
        encoder = self._encoder(found)
        if rows is not None:
            self._check_rows(len(rows))
            return found, encoder.rows(rows)
        if table is not None:
            self._check_rows(table.num_rows)
            return found, table_to_matrix(table, found.signature, model=encoder.model)
        assert columns is not None
        n = max((len(v) for v in columns.values() if isinstance(v, Sequence)), default=0)
        self._check_rows(n)
        return found, encoder.columns(columns)

    def _encoder(self, version: VersionRead) -> MatrixEncoder:
        """The version's compiled signature (versions are immutable: kept by artifact)."""
        encoder = self._encoders.get(version.artifact_uri)
        if encoder is None:
            encoder = MatrixEncoder(version.signature, model=f"model {version.model!r}")
            with self._lock:
                if len(self._encoders) >= 4 * self.cache_size:
                    self._encoders.clear()
                self._encoders[version.artifact_uri] = encoder
        return encoder

    def predict(
        self,
        principal: Principal,
        ref: str,
        *,
        rows: Sequence[Mapping[str, Any]] | None = None,
        columns: Mapping[str, Sequence[Any]] | None = None,
        explain: bool = False,
        version: int | None = None,
    ) -> Served:
        """Predict for rows (a list of objects) or columns (name → values).

        Raises:
            InvalidInputError: neither or both of rows and columns.
            SchemaMismatchError: the input does not fit the version's signature.
            PayloadTooLargeError: more rows than allowed.
            NotFoundError: the model, alias or version does not exist (for this tenant).
        """
        found, x = self.prepare(principal, ref, rows=rows, columns=columns, version=version)
        return self.predict_matrix(found, x, explain=explain)

    def predict_matrix(self, version: VersionRead, x: np.ndarray, *, explain: bool) -> Served:
        """Predict for an already-encoded input matrix of ``version``."""
        self._check_rows(int(x.shape[0]))
        prediction = self.predictor(version).predict(x, explain=explain)
        return Served(version=version, prediction=prediction)

    # the hot path -------------------------------------------------------------------------

    def batch_policy(self, tenant_id: str, version: VersionRead) -> BatchPolicy:
        """How requests of ``version``'s model are batched: the model's own ``serving``
        settings over the defaults (cached like refs, and dropped with them)."""
        key = (tenant_id, version.model)
        cached = self._policies.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.resolve_seconds:
            return cached[1]
        policy = self.batching
        own = self.registry.serving_settings(tenant_id, version.model)
        if own:
            policy = BatchPolicy(
                max_size=own.get("batch_max_size", policy.max_size),
                max_wait_us=own.get("batch_max_wait_us", policy.max_wait_us),
            )
        with self._lock:
            self._policies[key] = (now, policy)
        return policy

    async def predict_async(
        self, tenant_id: str, version: VersionRead, x: np.ndarray, *, explain: bool
    ) -> Served:
        """Predict for an encoded input matrix of ``version``, from the event loop.

        Small requests of row-wise models are batched with concurrent ones (see
        ``services.batching``); a prediction runs on the loop when its format is trusted and
        its measured time is small, else on a worker thread.

        Raises:
            ModelTimeoutError: the model ran longer than ``timeout_seconds``.
            PayloadTooLargeError, ModelExecutionError, IntegrityError, UnsupportedFormatError.
        """
        self._check_rows(int(x.shape[0]))
        key = version.artifact_uri
        with self._lock:
            predictor = self._models.get(key)
            if predictor is not None:
                self._models.move_to_end(key)
        try:
            if predictor is None:  # load it on a thread: reading and checking take a while
                loop = asyncio.get_running_loop()
                loading = loop.run_in_executor(None, self.predictor, version)
                predictor = await asyncio.wait_for(loading, self.timeout_seconds)
            policy = (
                self.batch_policy(tenant_id, version)
                if getattr(predictor, "row_wise", False)
                else _NO_BATCHING
            )
            prediction = await self.batcher.submit(
                (key, explain),
                x,
                self._timed(predictor, (key, explain), explain),
                policy,
                inline=self._inline_check(version.format, (key, explain)),
                timeout=self.timeout_seconds,
            )
        except TimeoutError as exc:
            raise ModelTimeoutError(
                f"Model {version.model!r} version {version.version} took longer than "
                f"{self.timeout_seconds:g} s.",
                expected=f"<= {self.timeout_seconds:g} s",
            ) from exc
        return Served(version=version, prediction=prediction)

    def _timed(
        self, predictor: Predictor, key: tuple[str, bool], explain: bool
    ) -> Callable[[np.ndarray], Prediction]:
        costs = self._costs

        def run(x: np.ndarray) -> Prediction:
            started = time.perf_counter()
            prediction = predictor.predict(x, explain=explain)
            per_row = (time.perf_counter() - started) / max(1, len(x))
            before = costs.get(key)
            costs[key] = per_row if before is None else 0.8 * before + 0.2 * per_row
            return prediction

        return run

    def _inline_check(self, format: str, key: tuple[str, bool]) -> Callable[[int], bool]:
        if format not in _TRUSTED_FORMATS:
            return _never
        per_row = self._costs.get(key)
        if per_row is None:  # not measured yet: explanations may be slow, the rest is not
            return _never if key[1] else _small
        budget = INLINE_SECONDS / max(per_row, 1e-9)
        return lambda rows: rows <= INLINE_ROWS and rows <= budget


_NO_BATCHING = BatchPolicy(max_size=0, max_wait_us=0)


def _never(_rows: int) -> bool:
    return False


def _small(rows: int) -> bool:
    return rows <= INLINE_ROWS
