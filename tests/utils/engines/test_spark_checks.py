"""The Spark checks of ingested rows: the one-pass flag per row says what the rules say."""

from __future__ import annotations

import pytest

from conftest import needs_spark
from utils.data.schema import DataSchema

pytestmark = needs_spark

SCHEMA = DataSchema("exited", ("a", "b"), ())
TARGET_CELLS = ["0", "1", "1.0", "0.0", "-0", "2", "0.5", "", "NA", "NaN", "x", "1e0", None]


@pytest.fixture(scope="module")
def cells():
    """Every number cell of test_spark's table in each feature, and every target cell."""
    from test_spark import NUMBER_CELLS

    rows = [(cell, "1", "0") for cell in NUMBER_CELLS]
    rows += [("1", cell, "1") for cell in NUMBER_CELLS]
    rows += [("1", "2", cell) for cell in TARGET_CELLS]
    return rows


def test_a_row_is_fine_exactly_when_it_breaks_no_rule(spark, cells):
    """check_rows flags a file by fine (one column); the message comes from the rules one
    by one. The two are written apart, so they are held equal here on every tricky cell."""
    from pyspark.sql import functions as F

    from utils.engines.spark_checks import _fine, _problems

    frame = spark.createDataFrame(cells, "a string, b string, exited string")
    rules = _problems(SCHEMA)
    broken_any = F.coalesce(F.greatest(*[rule.cast("int") for _, _, rule in rules]), F.lit(0))
    got = frame.select(
        "a", "b", "exited", _fine(SCHEMA).alias("fine"), (broken_any == 1).alias("broken")
    ).collect()
    for row in got:
        assert row["fine"] is not row["broken"], row
        assert row["fine"] is not None, row
    assert 5 < sum(row["fine"] for row in got) < len(got) - 5  # both kinds are in the table
