"""The synthetic data generators: shapes, rates, physics and determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from maas.errors import InvalidParameterError
from maas.ml.synthetic import machine_conditions, tool_life


def test_machine_conditions_has_the_documented_columns() -> None:
    frame = machine_conditions(n=1000, seed=0)
    assert frame.shape == (1000, 7)
    assert frame.dtypes.to_dict() == {
        "type": pd.CategoricalDtype(["L", "M", "H"]),
        "air_temperature_k": np.dtype("float64"),
        "process_temperature_k": np.dtype("float64"),
        "rotational_speed_rpm": np.dtype("int64"),
        "torque_nm": np.dtype("float64"),
        "tool_wear_min": np.dtype("int64"),
        "machine_failure": np.dtype("int64"),
    }
    assert set(frame["machine_failure"].unique()) == {0, 1}


@pytest.mark.parametrize("seed", range(5))
def test_machine_conditions_failure_rate_is_plausible(seed: int) -> None:
    frame = machine_conditions(n=3000, seed=seed)
    assert 0.01 <= frame["machine_failure"].mean() <= 0.08


def test_machine_conditions_readings_are_in_range() -> None:
    frame = machine_conditions(n=5000, seed=0)
    shares = frame["type"].value_counts(normalize=True)
    assert shares["L"] == pytest.approx(0.6, abs=0.03)
    assert shares["H"] == pytest.approx(0.1, abs=0.02)
    assert frame["air_temperature_k"].mean() == pytest.approx(300.0, abs=0.1)
    assert frame["air_temperature_k"].std() == pytest.approx(2.0, abs=0.05)
    difference = frame["process_temperature_k"] - frame["air_temperature_k"]
    assert difference.mean() == pytest.approx(10.0, abs=0.1)
    assert frame["torque_nm"].mean() == pytest.approx(40.0, abs=1.0)
    assert frame["rotational_speed_rpm"].median() == pytest.approx(1500, abs=60)
    assert np.corrcoef(frame["torque_nm"], frame["rotational_speed_rpm"])[0, 1] < -0.7
    assert frame["tool_wear_min"].between(0, 250).all()


def test_machine_conditions_failure_rules_hold() -> None:
    frame = machine_conditions(n=5000, seed=0)
    power = frame["torque_nm"] * frame["rotational_speed_rpm"] * 2 * np.pi / 60
    overstrain = frame["tool_wear_min"] * frame["torque_nm"] > frame["type"].map(
        {"L": 11_000, "M": 12_000, "H": 13_000}
    ).astype(float)
    heat = (frame["process_temperature_k"] - frame["air_temperature_k"] < 8.6) & (
        frame["rotational_speed_rpm"] < 1380
    )
    must_fail = (power < 3500) | (power > 9000) | overstrain | heat
    assert must_fail.sum() > 50
    assert (frame.loc[must_fail, "machine_failure"] == 1).all()
    # the rest fail only from tool wear at end of life, or at random (0.1%: about 5 of 5000)
    others = frame.loc[~must_fail & (frame["machine_failure"] == 1)]
    assert (others["tool_wear_min"] >= 195).sum() > 10
    assert (others["tool_wear_min"] < 195).sum() <= 15


def test_machine_conditions_is_deterministic_by_seed() -> None:
    pd.testing.assert_frame_equal(
        machine_conditions(n=500, seed=3), machine_conditions(n=500, seed=3)
    )
    assert not machine_conditions(n=500, seed=3).equals(machine_conditions(n=500, seed=4))


def test_tool_life_has_the_documented_columns() -> None:
    frame = tool_life(n=800, seed=0)
    assert frame.shape == (800, 6)
    assert list(frame.columns) == [
        "rotational_speed_rpm",
        "torque_nm",
        "feed_mm_per_rev",
        "material",
        "coolant",
        "remaining_tool_life_min",
    ]
    assert list(frame["material"].cat.categories) == ["steel", "aluminium", "cast_iron"]
    assert frame["coolant"].dtype == np.dtype(bool)
    assert (frame["remaining_tool_life_min"] > 0).all()


def test_tool_life_follows_taylor() -> None:
    frame = tool_life(n=4000, seed=0)
    steel = frame[frame["material"] == "steel"]
    slope = np.polyfit(
        np.log(steel["rotational_speed_rpm"]), np.log(steel["remaining_tool_life_min"]), 1
    )[0]
    assert slope == pytest.approx(-1 / 0.30, abs=0.5)  # life ~ speed^(-1/n), n = 0.30 for steel
    by_coolant = frame.groupby("coolant")["remaining_tool_life_min"].median()
    assert by_coolant[True] > by_coolant[False]
    by_material = frame.groupby("material", observed=True)["remaining_tool_life_min"].median()
    assert by_material["aluminium"] > by_material["steel"] > by_material["cast_iron"]


def test_tool_life_is_deterministic_by_seed() -> None:
    pd.testing.assert_frame_equal(tool_life(n=300, seed=5), tool_life(n=300, seed=5))
    assert not tool_life(n=300, seed=5).equals(tool_life(n=300, seed=6))


@pytest.mark.parametrize("generator", [machine_conditions, tool_life])
def test_generators_reject_no_rows(generator: object) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        generator(n=0)  # type: ignore[operator]
    assert caught.value.field == "n"


def test_generators_make_a_single_row() -> None:
    assert len(machine_conditions(n=1)) == 1
    assert len(tool_life(n=1)) == 1
