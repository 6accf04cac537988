"""Generic pairwise interactions of numeric inputs: derived features for tree models.

Trees cut one input at a time, so a target that depends on a difference, a product or a ratio
of two inputs (a temperature gap, a power, a wear-load) is only learnt as a staircase. An
``Interaction`` names one such derived feature by operation and input positions; ``derive``
appends them to an input matrix, the same way at training and at serving time, and
``to_inputs`` maps contributions (or gains) of derived features back onto their inputs. Nothing
here names a physical quantity: which pairs to use is chosen from the data (``pairs_of``).

Inputs reach a predictor as ``float32`` (the runtime contract), so ``as_written`` first turns
each value back into the shortest decimal that rounds to it, i.e. the reading as it was written:
``308.6 - 298.1`` is then ``10.5`` for every row rather than a spread of float32 rounding noise,
which would otherwise blur the split points of the trees on the derived feature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

import numpy as np

__all__ = [
    "OPERATIONS",
    "Interaction",
    "Operation",
    "as_written",
    "derive",
    "dump_interactions",
    "load_interactions",
    "pairs_of",
    "to_inputs",
]

Operation = Literal["difference", "product", "ratio", "inverse_ratio"]
"""The name of a pairwise interaction."""
OPERATIONS: tuple[Operation, ...] = ("difference", "product", "ratio", "inverse_ratio")
"""The pairwise interactions of two numeric inputs ``a`` and ``b``: ``a - b``, ``a * b``,
``a / b`` and ``b / a``. Trees are invariant to monotone maps of one feature, so ``b - a`` would
add nothing; ``b / a`` does, as it is monotone in ``a / b`` only while the signs hold, and a zero
denominator leaves one of the two missing but not the other."""


@dataclass(frozen=True, slots=True)
class Interaction:
    """A derived feature: ``op`` of the inputs at positions ``left`` and ``right``."""

    op: Operation
    left: int
    right: int

    def describe(self, names: Sequence[str]) -> str:
        """Name the feature after its inputs, e.g. ``torque_nm * rotational_speed_rpm``."""
        a, b = names[self.left], names[self.right]
        return {"difference": f"{a} - {b}", "product": f"{a} * {b}", "ratio": f"{a} / {b}"}.get(
            self.op, f"{b} / {a}"
        )


def as_written(x: np.ndarray) -> np.ndarray:
    """Return ``float32`` inputs as the ``float64`` of the shortest decimal that rounds to each.

    ``np.float32(298.1)`` is ``298.100006...``; this gives back ``298.1``. The same ``float32``
    always gives the same ``float64``, at training and at serving time alike.
    """
    return np.asarray(np.asarray(x, dtype=np.float32).astype(str).astype(np.float64))


def derive(x: np.ndarray, interactions: Sequence[Interaction]) -> np.ndarray:
    """Return ``x`` (``float64``, see ``as_written``) with one column per interaction appended.

    A ratio by zero, or any result that is not finite, is missing (NaN), as is any result of a
    missing input; LightGBM routes missing values down a learnt side of each split.
    """
    if not interactions:
        return x
    a = x[:, [i.left for i in interactions]]
    b = x[:, [i.right for i in interactions]]
    op = np.asarray([i.op for i in interactions])
    with np.errstate(all="ignore"):
        extra = np.select(
            [op == "difference", op == "product", op == "ratio"],
            [a - b, a * b, np.divide(a, b, out=np.full_like(a, np.nan), where=b != 0)],
            np.divide(b, a, out=np.full_like(a, np.nan), where=a != 0),
        )
    extra[~np.isfinite(extra)] = np.nan
    return np.hstack([x, extra])


def to_inputs(n_inputs: int, interactions: Sequence[Interaction]) -> np.ndarray:
    """The ``(n_features + 1, n_inputs + 1)`` map of feature contributions onto inputs (and bias).

    A derived feature's contribution is split evenly between the two inputs it comes from.
    """
    m = np.zeros((n_inputs + len(interactions) + 1, n_inputs + 1))
    m[np.arange(n_inputs), np.arange(n_inputs)] = 1.0
    for k, interaction in enumerate(interactions):
        m[n_inputs + k, interaction.left] = 0.5
        m[n_inputs + k, interaction.right] = 0.5
    m[-1, -1] = 1.0
    return m


def pairs_of(
    numeric: Sequence[int], max_inputs: int, gain: Sequence[float] | np.ndarray | None = None
) -> list[Interaction]:
    """Every interaction of every pair among the numeric inputs at positions ``numeric``.

    With more than ``max_inputs`` of them, only the ``max_inputs`` with the highest ``gain`` (of
    a plain model trained on the same rows; indexed by input position) are paired; ties keep the
    input order.

    Raises:
        ValueError: there are more than ``max_inputs`` numeric inputs and no ``gain``.
    """
    paired = list(numeric)
    if len(paired) > max_inputs:
        if gain is None:
            raise ValueError(f"{len(paired)} numeric inputs need a gain to keep {max_inputs}")
        paired = sorted(sorted(paired, key=lambda i: -gain[i])[:max_inputs])
    return [Interaction(op, i, j) for i, j in combinations(paired, 2) for op in OPERATIONS]


def dump_interactions(interactions: Sequence[Interaction]) -> list[list[Any]]:
    """The JSON form of ``interactions``: ``[[op, left, right], ...]``."""
    return [[i.op, i.left, i.right] for i in interactions]


def load_interactions(data: Any, n_inputs: int) -> list[Interaction]:
    """Read ``dump_interactions``' JSON back, checking it against ``n_inputs`` inputs.

    Raises:
        ValueError: an entry is not ``[op, left, right]`` with a known op and input positions
            in range.
    """
    out = []
    for entry in data:
        op, left, right = entry
        if op not in OPERATIONS or not all(
            isinstance(i, int) and 0 <= i < n_inputs for i in (left, right)
        ):
            raise ValueError(f"{entry!r} is not an interaction of {n_inputs} inputs")
        out.append(Interaction(OPERATIONS[OPERATIONS.index(op)], left, right))
    return out
