"""Online prediction: resolve ``NAME[@ALIAS|@VERSION]``, keep loaded models cached, predict."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from maas.domain.names import parse_model_ref
from maas.domain.principal import Principal
from maas.errors import InvalidInputError, NotFoundError, PayloadTooLargeError
from maas.runtimes.base import Prediction, Predictor
from maas.runtimes.catalog import get_runtime
from maas.runtimes.encoding import columns_to_matrix, rows_to_matrix
from maas.schemas.models import VersionRead
from maas.services.registry import RegistryService
from maas.store.artifacts.base import ArtifactStore
from maas.store.changes import ChangeFeed, LocalChangeFeed

__all__ = ["INLINE_ROWS", "Served", "ServingService"]

INLINE_ROWS = 256
"""Predictions of up to this many rows on a trusted format run on the event loop (faster than
a thread hop); larger ones go to the thread pool, under the timeout, so they never stall other
requests."""

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
    ) -> None:
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
        """Forget what this process knows about where ``name``'s aliases point."""
        with self._lock:
            for key in [k for k in self._refs if k[0] == tenant_id and k[1] == name]:
                del self._refs[key]

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
        version: int | None = None,
    ) -> tuple[VersionRead, np.ndarray]:
        """Resolve ``ref`` and encode the input for it, without predicting yet.

        Raises:
            InvalidInputError, SchemaMismatchError, PayloadTooLargeError, NotFoundError.
        """
        if (rows is None) == (columns is None):
            raise InvalidInputError(
                "Send exactly one of 'rows' (a list of objects) or 'columns' (name → list).",
                field="rows",
                expected="rows or columns",
                received="both" if rows is not None else "neither",
            )
        found = self.resolve(principal.tenant_id, ref, version)
        model = f"model {found.model!r}"
        if rows is not None:
            self._check_rows(len(rows))
            return found, rows_to_matrix(rows, found.signature, model=model)
        assert columns is not None
        n = max((len(v) for v in columns.values() if isinstance(v, Sequence)), default=0)
        self._check_rows(n)
        return found, columns_to_matrix(columns, found.signature, model=model)

    def is_fast(self, version: VersionRead, rows: int) -> bool:
        """Whether a prediction is small and on a trusted format, so it may run inline on the
        event loop instead of a worker thread (with its timeout)."""
        return rows <= INLINE_ROWS and version.format == "lightgbm"

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
