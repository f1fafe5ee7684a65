"""Numbers formatted for people, raw numbers untouched."""

import math

import pandas as pd

from core import formatting as fmt


def test_p_values_read_as_people_write_them():
    assert fmt.p_value(0.0000000000006) == "< 0.001"
    assert fmt.p_value(0.0031) == "0.003"
    assert fmt.p_value(0.4249) == "0.42"
    assert fmt.p_value(float("nan")) == ""


def test_percent_points_and_significant_digits():
    assert fmt.percent(0.1234) == "12.3%"
    assert fmt.points(0.0053) == "+0.53 pts"
    assert fmt.points(-0.025) == "-2.50 pts"
    assert fmt.significant(0.000123456) == "0.000123"
    assert fmt.significant(1234567.0) == "1,234,567"
    assert fmt.significant(6e-13) == "6.00e-13"
    assert fmt.significant(math.inf) == "∞"
    assert fmt.integer(7032) == "7,032"
    assert fmt.rows(1) == "1 row" and fmt.rows(7032) == "7,032 rows"


def test_for_people_formats_a_copy_and_keeps_the_raw_frame():
    raw = pd.DataFrame({"variant": ["A", "B"], "rate": [0.1, 0.125], "p": [0.5, 1e-9],
                        "expected_loss": [0.0000000000006, 0.0123456]})
    shown = fmt.for_people(raw, {"rate": "percent", "p": "p_value"}, labels={"p": "p-value"})
    assert list(shown["rate"]) == ["10.0%", "12.5%"]
    assert list(shown["p-value"]) == ["0.50", "< 0.001"]
    assert list(shown["expected_loss"]) == ["6.00e-13", "0.0123"]
    assert raw["p"].iloc[1] == 1e-9 and "p" in raw.columns
