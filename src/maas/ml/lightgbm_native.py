"""LightGBM boosters through LightGBM's C API (``c_api.h``), for serving.

``NativeBooster`` loads a booster from its model text and predicts with
``LGBM_BoosterPredictForMat`` (and, for one row, the prepared ``...SingleRowFast`` call), which
is what ``lightgbm.Booster.predict`` calls too, minus its per-call Python work: parameter
strings built and parsed, a predictor object made, input checks. For a single row that is most
of the time (about 35 µs → 12 µs for a 200-tree model).

It also spares the server the ``lightgbm`` Python package, whose import pulls in scikit-learn,
SciPy and pandas (over a second and ~100 MiB): only the shared library is loaded, from the
installed ``lightgbm`` package's folder, found without importing it.

Thread safety: ``LGBM_BoosterPredictForMat`` builds its own predictor per call and may run from
several threads at once; the single-row fast path shares one prepared configuration, so its
calls are serialised by a lock (each takes microseconds).
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys
import threading
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["NativeBooster", "NativeLightGBMError"]

_DTYPE_FLOAT32 = 0
_DTYPE_FLOAT64 = 1
PREDICT_NORMAL = 0
PREDICT_RAW_SCORE = 1
PREDICT_CONTRIB = 3
_IMPORTANCE = {"split": 0, "gain": 1}
_PARALLEL_ROWS = 500
"""Batches at least this large predict on every core; smaller ones on the calling thread.

Measured on a 2-core machine with a 200-tree model (``benchmarks/serving.py``'s): two threads
halve a batch's time from a few dozen rows up (1,000 rows 5.6 → 2.9 ms), and two concurrent
callers lose nothing to it. Micro-batches of single-row requests stay below the threshold on
purpose: on one thread each, concurrent requests keep the other cores for parsing and HTTP."""

_double_p = ctypes.POINTER(ctypes.c_double)


class NativeLightGBMError(RuntimeError):
    """LightGBM's C API refused a call; the message is LightGBM's own."""


def _library_name() -> str:
    if sys.platform == "win32":
        return "lib_lightgbm.dll"
    if sys.platform == "darwin":
        return "lib_lightgbm.dylib"
    return "lib_lightgbm.so"


@cache
def _lib() -> ctypes.CDLL:
    """The LightGBM shared library of the installed ``lightgbm`` package (not imported)."""
    spec = importlib.util.find_spec("lightgbm")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the lightgbm package is not installed")
    name = _library_name()
    for folder in spec.submodule_search_locations:
        for candidate in (Path(folder) / "lib" / name, Path(folder) / name):
            if candidate.is_file():
                lib = ctypes.cdll.LoadLibrary(str(candidate))
                lib.LGBM_GetLastError.restype = ctypes.c_char_p
                return lib
    raise ImportError(f"{name} was not found in the lightgbm package")


def _check(code: int) -> None:
    if code != 0:
        raise NativeLightGBMError(_lib().LGBM_GetLastError().decode("utf-8", "replace"))


class NativeBooster:
    """A booster loaded from model text, predicting through the C API.

    ``predict`` takes the arguments of ``lightgbm.Booster.predict`` that serving uses, so the
    two are interchangeable there.

    Raises:
        NativeLightGBMError: the model text does not parse (from the constructor).
    """

    def __init__(self, model_text: str) -> None:
        lib = _lib()
        self._handle = ctypes.c_void_p()
        iterations = ctypes.c_int()
        _check(
            lib.LGBM_BoosterLoadModelFromString(
                model_text.encode("utf-8"), ctypes.byref(iterations), ctypes.byref(self._handle)
            )
        )
        self._lib = lib
        out = ctypes.c_int()
        _check(lib.LGBM_BoosterGetNumFeature(self._handle, ctypes.byref(out)))
        self._n_features = out.value
        _check(lib.LGBM_BoosterNumModelPerIteration(self._handle, ctypes.byref(out)))
        self._per_iteration = out.value
        self._fast: dict[int, tuple[Any, ...]] = {}
        self._fast_lock = threading.Lock()

    def __del__(self) -> None:
        lib = getattr(self, "_lib", None)
        if lib is None:
            return
        for fast in getattr(self, "_fast", {}).values():
            lib.LGBM_FastConfigFree(fast[0])
        if self._handle:
            lib.LGBM_BoosterFree(self._handle)
            self._handle = ctypes.c_void_p()

    def num_feature(self) -> int:
        return self._n_features

    def num_model_per_iteration(self) -> int:
        return self._per_iteration

    def feature_importance(self, importance_type: str = "split") -> np.ndarray:
        """Total splits (``"split"``) or split gain (``"gain"``) per feature."""
        out = np.empty(self._n_features, dtype=np.float64)
        _check(
            self._lib.LGBM_BoosterFeatureImportance(
                self._handle,
                ctypes.c_int(-1),
                ctypes.c_int(_IMPORTANCE[importance_type]),
                out.ctypes.data_as(_double_p),
            )
        )
        return out.astype(np.int32) if importance_type == "split" else out

    def predict(
        self,
        x: np.ndarray,
        *,
        raw_score: bool = False,
        pred_contrib: bool = False,
        num_threads: int | None = None,
    ) -> np.ndarray:
        """Predict for the rows of ``x`` (2-D, one column per feature; float32 or float64).

        Returns what ``lightgbm.Booster.predict`` returns: ``(n,)`` for one output per row,
        ``(n, k)`` for ``k`` classes, ``(n, k * (features + 1))`` for contributions.

        Raises:
            ValueError: ``x`` is not 2-D with ``num_feature()`` columns.
            NativeLightGBMError: LightGBM failed.
        """
        if x.dtype != np.float32 and x.dtype != np.float64:
            x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self._n_features:
            raise ValueError(
                f"the booster takes {self._n_features} features, got an array of shape {x.shape}"
            )
        kind = PREDICT_CONTRIB if pred_contrib else PREDICT_RAW_SCORE if raw_score else 0
        n = x.shape[0]
        width = self._per_iteration * ((self._n_features + 1) if pred_contrib else 1)
        out = np.empty(n * width, dtype=np.float64)
        if n == 0:
            return out.reshape(0, width) if width > 1 else out
        if not x.flags.c_contiguous and not x.flags.f_contiguous:
            x = np.ascontiguousarray(x)
        dtype = _DTYPE_FLOAT32 if x.dtype == np.float32 else _DTYPE_FLOAT64
        if n == 1 and x.flags.c_contiguous:
            self._predict_one(x, kind, dtype, out)
        else:
            threads = num_threads if num_threads is not None else (1 if n < _PARALLEL_ROWS else 0)
            written = ctypes.c_int64()
            _check(
                self._lib.LGBM_BoosterPredictForMat(
                    self._handle,
                    x.ctypes.data_as(ctypes.c_void_p),
                    ctypes.c_int(dtype),
                    ctypes.c_int32(n),
                    ctypes.c_int32(self._n_features),
                    ctypes.c_int(1 if x.flags.c_contiguous else 0),
                    ctypes.c_int(kind),
                    ctypes.c_int(0),
                    ctypes.c_int(-1),
                    f"num_threads={threads}".encode(),
                    ctypes.byref(written),
                    out.ctypes.data_as(_double_p),
                )
            )
        return out.reshape(n, width) if width > 1 else out

    def _predict_one(self, x: np.ndarray, kind: int, dtype: int, out: np.ndarray) -> None:
        key = kind * 2 + dtype
        with self._fast_lock:
            fast = self._fast.get(key)
            if fast is None:
                fast = self._fast[key] = self._prepare_one(kind, dtype, len(out))
            handle, row, result, row_p, result_p, written = fast
            row[:] = x[0]
            _check(
                self._lib.LGBM_BoosterPredictForMatSingleRowFast(handle, row_p, written, result_p)
            )
            out[:] = result

    def _prepare_one(self, kind: int, dtype: int, width: int) -> tuple[Any, ...]:
        """The prepared call of one kind and input type, with its own buffers and pointers."""
        handle = ctypes.c_void_p()
        _check(
            self._lib.LGBM_BoosterPredictForMatSingleRowFastInit(
                self._handle,
                ctypes.c_int(kind),
                ctypes.c_int(0),
                ctypes.c_int(-1),
                ctypes.c_int(dtype),
                ctypes.c_int32(self._n_features),
                b"num_threads=1",
                ctypes.byref(handle),
            )
        )
        row = np.zeros(
            self._n_features, dtype=np.float32 if dtype == _DTYPE_FLOAT32 else np.float64
        )
        result = np.zeros(width, dtype=np.float64)
        written = ctypes.c_int64()
        return (
            handle,
            row,
            result,
            row.ctypes.data_as(ctypes.c_void_p),
            result.ctypes.data_as(_double_p),
            ctypes.byref(written),
        )
