"""The runtimes by format: the built-in ones, plus those installed under ``maas.runtimes``.

Plug-in runtimes come only from installed entry points (group ``maas.runtimes``), which the
operator controls by installing packages; never from import strings in configuration. A
plug-in's entry point names a ``Runtime`` class (built with no arguments) or instance. Built-in
formats cannot be overridden by a plug-in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from functools import cache, cached_property
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType

from maas.domain.signature import Signature
from maas.errors import UnsupportedFormatError
from maas.runtimes.base import Predictor, Runtime
from maas.runtimes.lightgbm import LightGBMRuntime

__all__ = [
    "ENTRY_POINT_GROUP",
    "RUNTIMES",
    "available_runtimes",
    "discover_runtimes",
    "get_runtime",
]

ENTRY_POINT_GROUP = "maas.runtimes"


class _Deferred:
    """A built-in runtime whose module, and the libraries it needs (onnx and onnxruntime; the
    training templates with scikit-learn and pandas), is imported when the first artifact of
    its format is loaded, not when the server starts. ``get_runtime`` returns the real one."""

    def __init__(self, format: str, build: Callable[[], Runtime]) -> None:
        self.format = format
        self._build = build

    @cached_property
    def runtime(self) -> Runtime:
        return self._build()

    def load(self, data: bytes, signature: Signature) -> Predictor:
        return self.runtime.load(data, signature)


def _onnx() -> Runtime:
    from maas.runtimes.onnx import OnnxRuntime

    return OnnxRuntime()


def _template() -> Runtime:
    from maas.runtimes.template import TemplateRuntime

    return TemplateRuntime()


RUNTIMES: Mapping[str, Runtime] = MappingProxyType(
    {
        runtime.format: runtime
        for runtime in (
            LightGBMRuntime(),
            _Deferred("onnx", _onnx),
            _Deferred("template", _template),
        )
    }
)
"""The built-in runtimes by format; read-only (the runtimes themselves hold no state)."""

_log = logging.getLogger(__name__)


def discover_runtimes(plugins: Iterable[EntryPoint] | None = None) -> dict[str, Runtime]:
    """Return the built-in runtimes plus those of ``plugins``.

    Args:
        plugins: the entry points to load; by default those installed in the group
            ``maas.runtimes``.

    Raises:
        TypeError: an entry point names something that is not a ``Runtime``.
    """
    found: dict[str, Runtime] = dict(RUNTIMES)
    for plugin in entry_points(group=ENTRY_POINT_GROUP) if plugins is None else plugins:
        loaded = plugin.load()
        runtime = loaded() if isinstance(loaded, type) else loaded
        if not isinstance(runtime, Runtime):
            raise TypeError(
                f"Entry point {plugin.name!r} ({plugin.value}) of group {ENTRY_POINT_GROUP!r} "
                "is not a Runtime (it needs a 'format' and a 'load' method)."
            )
        if runtime.format in found:
            _log.warning(
                "runtime plug-in %r ignored: format %r is already provided",
                plugin.value,
                runtime.format,
            )
            continue
        found[runtime.format] = runtime
    return found


@cache
def available_runtimes() -> Mapping[str, Runtime]:
    """The built-in and installed runtimes, discovered on the first call and kept after.

    Raises:
        TypeError: an installed entry point names something that is not a ``Runtime``.
    """
    return MappingProxyType(discover_runtimes())


def get_runtime(format: str) -> Runtime:
    """Return the runtime for artifacts of ``format``.

    Raises:
        UnsupportedFormatError: no runtime reads ``format``; the message lists those that do.
    """
    runtimes = available_runtimes()
    try:
        found = runtimes[format]
    except KeyError:
        known = sorted(runtimes)
        raise UnsupportedFormatError(
            f"Format {format!r} is not supported. Known formats: {known}.",
            field="format",
            expected=known,
            received=format,
        ) from None
    return found.runtime if isinstance(found, _Deferred) else found
