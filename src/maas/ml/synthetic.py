"""Seeded synthetic manufacturing data: example models at first start, and tests.

``machine_conditions`` follows the recipe of the AI4I 2020 predictive-maintenance data set
(S. Matzka, AI4I 2020; synthetic by construction too): random-walk temperatures, speed falling
with torque, a tool-wear sawtooth, and failures from five physically motivated modes. ``tool_life``
follows Taylor's tool-life equation. Both are pure functions of ``n`` and ``seed``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from maas.errors import InvalidParameterError

__all__ = ["machine_conditions", "tool_life"]

_TYPES = ["L", "M", "H"]
_TYPE_SHARES = [0.6, 0.3, 0.1]
_WEAR_PER_PROCESS_MIN = {"L": 2, "M": 3, "H": 5}
"""Minutes of tool wear each quality variant adds per process (AI4I)."""
_OVERSTRAIN_LIMIT_MIN_NM = {"L": 11_000, "M": 12_000, "H": 13_000}


def machine_conditions(n: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """Return ``n`` milling processes with a ``machine_failure`` flag (3-5% failures).

    Columns: ``type`` (category L/M/H, 60/30/10%), ``air_temperature_k``,
    ``process_temperature_k``, ``rotational_speed_rpm``, ``torque_nm``, ``tool_wear_min`` and
    ``machine_failure`` (0/1). A row fails when any of these happens:

    - heat dissipation: process minus air temperature below 8.6 K at under 1380 rpm;
    - power: torque times angular speed below 3500 W or above 9000 W;
    - overstrain: tool wear times torque above 11,000 / 12,000 / 13,000 min·Nm for L / M / H;
    - tool wear: the tool reaches its life, drawn in 200-240 min, and fails (40% of the tools;
      the others are replaced in time);
    - random: 0.1% of processes, whatever the readings.

    Rows are in time order: temperatures drift and tool wear climbs until the tool is changed.

    Raises:
        InvalidParameterError: ``n`` is below 1.
    """
    _check_rows(n)
    rng = np.random.default_rng(seed)
    kind = rng.choice(_TYPES, size=n, p=_TYPE_SHARES)
    air = np.round(300.0 + _random_walk(rng, n, sd=2.0), 1)
    process = np.round(air + 10.0 + _random_walk(rng, n, sd=1.0), 1)
    torque = np.round(np.clip(rng.normal(40.0, 10.0, n), 3.0, None), 1)
    # Speed falls with torque at roughly constant power; the fit on AI4I 2020 gives
    # log(rpm) = 8.676 - 0.368 log(Nm) with a residual spread of 0.036.
    speed = np.rint(np.exp(8.676 - 0.368 * np.log(torque) + rng.normal(0.0, 0.036, n)))
    wear, tool_failed = _tool_wear(rng, kind)

    power_w = torque * speed * 2.0 * np.pi / 60.0
    overstrain_limit = np.select(
        [kind == k for k in _TYPES], [_OVERSTRAIN_LIMIT_MIN_NM[k] for k in _TYPES]
    )
    failure = (
        ((process - air < 8.6) & (speed < 1380))
        | (power_w < 3500)
        | (power_w > 9000)
        | (wear * torque > overstrain_limit)
        | tool_failed
        | (rng.random(n) < 0.001)
    )
    return pd.DataFrame(
        {
            "type": pd.Categorical(kind, categories=_TYPES),
            "air_temperature_k": air,
            "process_temperature_k": process,
            "rotational_speed_rpm": speed.astype(np.int64),
            "torque_nm": torque,
            "tool_wear_min": wear,
            "machine_failure": failure.astype(np.int64),
        }
    )


_MATERIALS = ["steel", "aluminium", "cast_iron"]
_MATERIAL_SHARES = [0.5, 0.25, 0.25]
_TAYLOR = {
    # material: (Taylor exponent n, reference cutting speed m/min, tool life there in min)
    "steel": (0.30, 220.0, 60.0),
    "aluminium": (0.50, 350.0, 90.0),
    "cast_iron": (0.30, 180.0, 45.0),
}
_TOOL_DIAMETER_MM = 40.0


def tool_life(n: int = 5_000, seed: int = 0) -> pd.DataFrame:
    """Return ``n`` cutting set-ups with their tool life, ``remaining_tool_life_min``.

    Columns: ``rotational_speed_rpm``, ``torque_nm``, ``feed_mm_per_rev``, ``material``
    (category steel/aluminium/cast_iron), ``coolant`` (bool) and the target. Life follows an
    extended Taylor equation ``T = T_ref (V_ref / V)^(1/n) (0.2 / f)^0.3 (40 / torque)^0.5``,
    with ``V`` the cutting speed of a 40 mm tool and per-material ``n``, ``V_ref``, ``T_ref``;
    coolant makes it 40% longer, and a log-normal scatter of 10% blurs it. Lives run from a
    few minutes (cast iron, fast, dry) to several hundred (aluminium).

    Raises:
        InvalidParameterError: ``n`` is below 1.
    """
    _check_rows(n)
    rng = np.random.default_rng(seed)
    material = rng.choice(_MATERIALS, size=n, p=_MATERIAL_SHARES)
    speed = np.rint(rng.uniform(1200.0, 2500.0, n))
    torque = np.round(np.clip(rng.normal(40.0, 8.0, n), 10.0, None), 1)
    feed = np.round(rng.uniform(0.05, 0.4, n), 3)
    coolant = rng.random(n) < 0.7

    exponent, v_ref, t_ref = (
        np.select([material == m for m in _MATERIALS], [_TAYLOR[m][i] for m in _MATERIALS])
        for i in range(3)
    )
    cutting_speed = np.pi * _TOOL_DIAMETER_MM * speed / 1000.0
    life = (
        t_ref
        * (v_ref / cutting_speed) ** (1.0 / exponent)
        * (0.2 / feed) ** 0.3
        * (40.0 / torque) ** 0.5
        * np.where(coolant, 1.4, 1.0)
        * rng.lognormal(0.0, 0.1, n)
    )
    return pd.DataFrame(
        {
            "rotational_speed_rpm": speed.astype(np.int64),
            "torque_nm": torque,
            "feed_mm_per_rev": feed,
            "material": pd.Categorical(material, categories=_MATERIALS),
            "coolant": coolant,
            "remaining_tool_life_min": np.round(life, 1),
        }
    )


def _check_rows(n: int) -> None:
    if n < 1:
        raise InvalidParameterError(
            f"The number of rows must be at least 1. Got {n} instead.",
            field="n",
            expected=">= 1",
            received=n,
        )


def _random_walk(rng: np.random.Generator, n: int, *, sd: float) -> np.ndarray:
    """A random walk of ``n`` steps, centred and scaled to standard deviation ``sd``."""
    walk = np.cumsum(rng.normal(size=n))
    spread = walk.std()
    return np.asarray((walk - walk.mean()) * (sd / spread if spread > 0 else 0.0))


def _tool_wear(rng: np.random.Generator, kind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tool wear in minutes at each process, and whether the tool failed at that process.

    Each process adds its variant's wear. A tool is changed after the process that brings it
    to its life, drawn uniformly in 200-240 min; 40% of the tools fail at that process (AI4I).
    """
    n = len(kind)
    added = np.select([kind == k for k in _TYPES], [_WEAR_PER_PROCESS_MIN[k] for k in _TYPES])
    worn = np.concatenate([[0], np.cumsum(added)])  # worn[i]: total wear before process i
    wear = np.empty(n, dtype=np.int64)
    failed = np.zeros(n, dtype=bool)
    start = 0
    while start < n:
        life = rng.uniform(200.0, 240.0)
        end = min(int(np.searchsorted(worn, worn[start] + life)), n - 1)
        wear[start : end + 1] = worn[start : end + 1] - worn[start]
        failed[end] = rng.random() < 0.4 and wear[end] >= life
        start = end + 1
    return wear, failed
