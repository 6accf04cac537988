"""Seeded synthetic manufacturing data: example models at first start, and tests.

``machine_conditions`` follows the recipe of the AI4I 2020 predictive-maintenance data set
(S. Matzka, AI4I 2020; synthetic by construction too): random-walk temperatures, speed falling
with torque, a tool-wear sawtooth, and failures from five physically motivated modes. ``tool_life``
follows Taylor's tool-life equation. ``run_to_failure`` follows the shape of NASA's C-MAPSS
turbofan data: units that degrade from their own initial wear until they fail.
``production_series`` gives the daily output of many production lines (trend, weekly cycle,
noise) for forecasting. All are pure functions of their arguments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from maas.errors import InvalidParameterError

__all__ = [
    "machine_conditions",
    "maintenance_logs",
    "production_series",
    "run_to_failure",
    "tool_life",
]

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


_SENSOR_SENSITIVITY = [2.0, 1.2, -1.5, 0.8, -0.6, 0.3]
"""How strongly each degrading sensor moves with wear (sign: up or down), in noise units."""
_CONDITIONS = [(0.0, 0.0), (20.0, 0.5), (35.0, 0.8), (10.0, 0.25), (42.0, 0.84), (25.0, 0.62)]
"""Operating points (altitude-like setting1, Mach-like setting2), as in C-MAPSS FD002."""


def run_to_failure(n_units: int = 30, seed: int = 0, *, n_conditions: int = 1) -> pd.DataFrame:
    """Return the histories of ``n_units`` units run until they fail, one row per cycle.

    Columns: ``unit`` (1..n), ``cycle`` (1..life), ``setting1``, ``setting2`` (operating
    settings), ``s1``..``s6`` (sensors that drift with wear, up or down, by different amounts),
    ``s7`` (noise only) and ``s8`` (constant). Each unit lives 80-220 cycles and starts with its
    own initial wear; wear grows as ``(cycle / life) ** p`` with ``p`` in 1.5-3, so the drift is
    invisible early and steep near failure. With ``n_conditions`` > 1, each cycle runs at one of
    that many operating points, which shift every sensor by their own offsets (C-MAPSS FD002).

    Raises:
        InvalidParameterError: ``n_units`` is below 1 or ``n_conditions`` outside 1-6.
    """
    if n_units < 1:
        raise InvalidParameterError(
            f"The number of units must be at least 1. Got {n_units} instead.",
            field="n_units",
            expected=">= 1",
            received=n_units,
        )
    if not 1 <= n_conditions <= len(_CONDITIONS):
        raise InvalidParameterError(
            f"The number of operating conditions must be in 1-{len(_CONDITIONS)}. "
            f"Got {n_conditions} instead.",
            field="n_conditions",
            expected=f"1-{len(_CONDITIONS)}",
            received=n_conditions,
        )
    rng = np.random.default_rng(seed)
    sensitivity = np.asarray(_SENSOR_SENSITIVITY)
    offsets = rng.normal(0.0, 5.0, size=(n_conditions, len(sensitivity) + 1))
    frames = []
    for unit in range(1, n_units + 1):
        life = int(rng.integers(80, 221))
        cycle = np.arange(1, life + 1)
        wear = rng.uniform(0.0, 0.3) + (cycle / life) ** rng.uniform(1.5, 3.0)
        condition = rng.integers(0, n_conditions, size=life)
        points = np.asarray(_CONDITIONS)[condition]
        settings = points + rng.normal(0.0, [0.002, 0.0003], size=(life, 2))
        noise = rng.normal(0.0, 1.0, size=(life, len(sensitivity) + 1))
        readings = offsets[condition] + noise
        readings[:, :-1] += wear[:, None] * sensitivity[None, :] * 3.0
        frame = pd.DataFrame(
            {
                "unit": unit,
                "cycle": cycle,
                "setting1": np.round(settings[:, 0], 4),
                "setting2": np.round(settings[:, 1], 4),
            }
        )
        for j in range(readings.shape[1]):
            frame[f"s{j + 1}"] = np.round(100.0 + 10.0 * j + readings[:, j], 3)
        frame["s8"] = 100.0
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


_WEEKDAY_SHARE = np.array([1.0, 1.05, 1.05, 1.0, 0.9, 0.5, 0.2])
"""Output of each weekday (Monday first) relative to a Monday: weekend shifts are short."""


def production_series(n_series: int = 20, length: int = 200, seed: int = 0) -> pd.DataFrame:
    """Return the daily output of ``n_series`` production lines over ``length`` days.

    Long format, one row per line and day: ``series`` (``line_01``, ...), ``timestamp`` (daily
    datetimes from 2024-01-01) and ``units_produced`` (whole units, ``float64``). Each line has
    its own level (log-normal around 200 units a day), a linear trend (-0.1% to +0.3% a day), a
    weekly cycle (the shared weekday shares, each day's share jittered per line by 5%, weekends
    low) and multiplicative noise of 5%.

    Raises:
        InvalidParameterError: ``n_series`` is below 1 or ``length`` below 2.
    """
    for name, value, least in (("n_series", n_series, 1), ("length", length, 2)):
        if value < least:
            raise InvalidParameterError(
                f"Parameter {name!r} must be at least {least}. Got {value} instead.",
                field=name,
                expected=f">= {least}",
                received=value,
            )
    rng = np.random.default_rng(seed)
    days = np.arange(length)
    weekday = days % 7  # 2024-01-01 is a Monday
    frames = []
    for i in range(n_series):
        level = 200.0 * rng.lognormal(0.0, 0.5)
        trend = 1.0 + rng.uniform(-0.001, 0.003) * days
        cycle = (_WEEKDAY_SHARE * rng.normal(1.0, 0.05, 7))[weekday]
        noise = rng.normal(1.0, 0.05, length)
        units = np.maximum(np.round(level * trend * cycle * noise), 0.0)
        frames.append(
            pd.DataFrame(
                {
                    "series": f"line_{i + 1:02d}",
                    "timestamp": pd.date_range("2024-01-01", periods=length, freq="D"),
                    "units_produced": units,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


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


_FAILURE_MODES = {
    "bearing": [
        "grinding noise from spindle bearing",
        "high vibration at bearing housing",
        "bearing temperature rising",
        "rumbling noise under load",
        "replaced worn bearing",
        "radial play in shaft bearing",
        "vibration alarm on main drive",
    ],
    "electrical": [
        "motor tripped the breaker",
        "intermittent power loss",
        "burnt smell from control cabinet",
        "encoder signal lost",
        "fuse blown on servo drive",
        "loose wiring on terminal block",
        "drive fault code on panel",
    ],
    "hydraulic": [
        "oil leak at hydraulic cylinder",
        "pressure drop in hydraulic unit",
        "hydraulic hose burst",
        "pump cavitation noise",
        "slow clamp actuation",
        "worn seal on cylinder",
        "low hydraulic oil level",
    ],
    "overheating": [
        "coolant temperature high",
        "spindle overheating alarm",
        "cooling fan not running",
        "heat exchanger clogged",
        "thermal shutdown of motor",
        "chiller fault reported",
        "housing hot to touch",
    ],
    "tool_wear": [
        "cutting edge chipped",
        "poor surface finish on parts",
        "burr on machined edges",
        "worn tool insert",
        "part dimensions out of tolerance",
        "cutting force increased",
        "replaced cutting insert",
    ],
}
_MODE_SHARES = [0.25, 0.2, 0.2, 0.15, 0.2]
_ASSETS = ["press 3", "cnc mill 7", "lathe 2", "robot cell 5", "conveyor 1", "grinder 4"]
_LOG_FILLERS = [
    "operator reported",
    "checked by maintenance",
    "during night shift",
    "after restart",
    "machine stopped",
    "production halted for 20 min",
    "ticket closed",
    "follow-up needed",
    "spare part ordered",
    "observed at start of shift",
]


def maintenance_logs(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Return ``n`` maintenance-log entries with the failure mode each one records.

    Columns: ``log_text`` (free text) and ``failure_mode`` (bearing, electrical, hydraulic,
    overheating, tool_wear; 25/20/20/15/20%). An entry names an asset and joins, in random
    order, one or two symptoms of its mode, one or two routine phrases shared by all modes and,
    in 20% of entries, a symptom of another mode (a misleading clue); 3% of the labels are
    replaced by a random mode (clerical errors), so no model scores perfectly.

    Raises:
        InvalidParameterError: ``n`` is below 1.
    """
    _check_rows(n)
    rng = np.random.default_rng(seed)
    modes = list(_FAILURE_MODES)
    mode = rng.choice(len(modes), size=n, p=_MODE_SHARES)
    texts = []
    for m in mode:
        own = _FAILURE_MODES[modes[m]]
        parts = [own[i] for i in rng.choice(len(own), size=rng.integers(1, 3), replace=False)]
        parts += [_LOG_FILLERS[i] for i in rng.choice(len(_LOG_FILLERS), size=rng.integers(1, 3))]
        if rng.random() < 0.2:
            other = _FAILURE_MODES[modes[(m + rng.integers(1, len(modes))) % len(modes)]]
            parts.append(other[rng.integers(len(other))])
        order = rng.permutation(len(parts))
        asset = _ASSETS[rng.integers(len(_ASSETS))]
        texts.append(f"{asset}: " + ", ".join(parts[i] for i in order))
    relabel = rng.random(n) < 0.03
    mode = np.where(relabel, rng.integers(0, len(modes), size=n), mode)
    return pd.DataFrame({"log_text": texts, "failure_mode": np.asarray(modes, dtype=object)[mode]})
