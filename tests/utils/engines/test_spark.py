"""The Spark engine against the local one: same predictions, same counts, same files.

Spark runs in local mode with two cores (``local[2]``), as in CI; without PySpark (an extra:
./setup_env.sh spark) or Java these tests skip, saying which is missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import needs_spark
from utils.data.schema import DataSchema
from utils.engines.spark import spark_conf
from utils.errors import PipelineError
from utils.model.scoring import confusion_counts
from utils.model.training import ModelParams, train_model

SCHEMA = DataSchema("exited", ("a", "b"), ("corporation",))


@pytest.mark.parametrize(
    ("given", "flat"),
    [
        ({}, {}),
        ({"spark.executor.memory": "8g"}, {"spark.executor.memory": "8g"}),
        ({"spark": {"executor": {"memory": "8g", "cores": 2}}},
         {"spark.executor.memory": "8g", "spark.executor.cores": "2"}),
        ({"spark.sql.adaptive.enabled": False}, {"spark.sql.adaptive.enabled": "false"}),
    ],
)  # fmt: skip
def test_spark_options_are_flat_strings_however_given(given, flat):
    assert spark_conf(given) == flat


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=rows)
    b = rng.normal(size=rows)
    return pd.DataFrame(
        {
            "corporation": [f"{i:05d}" for i in range(seed * 1000, seed * 1000 + rows)],
            "a": a.round(6),
            "b": b.round(6),
            "exited": (a + 0.5 * b + rng.normal(scale=0.8, size=rows) > 0).astype(int),
        }
    )


@pytest.fixture(scope="module")
def logged_model(tmp_path_factory):
    """A model trained on generated data and logged to an MLflow store of its own."""
    import mlflow
    import mlflow.sklearn

    folder = tmp_path_factory.mktemp("mlflow")
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    experiment = mlflow.create_experiment("spark", (folder / "artifacts").as_uri())
    model = train_model(frame(400, 1), SCHEMA, ModelParams())
    with mlflow.start_run(experiment_id=experiment):
        logged = mlflow.sklearn.log_model(model, name="model", skops_trusted_types=["numpy.dtype"])
    yield model, logged.model_uri
    mlflow.set_tracking_uri(None)


@needs_spark
def test_files_are_read_in_the_order_given_with_ids_as_written(spark, tmp_path):
    from utils.engines.spark import read_features

    big, small = frame(300, 2), frame(20, 3)
    small.loc[3, "a"] = np.nan
    (tmp_path / "b.csv").write_text(small.to_csv(index=False))
    (tmp_path / "a.csv").write_text(big.to_csv(index=False))
    read = read_features(spark, [str(tmp_path / "b.csv"), str(tmp_path / "a.csv")], SCHEMA)
    got = read.toPandas()
    expected = pd.concat([small, big], ignore_index=True)
    assert got["corporation"].tolist() == expected["corporation"].tolist()  # "00007" stays
    assert np.allclose(got["a"], expected["a"], equal_nan=True)
    assert "exited" not in got.columns


@needs_spark
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("corporation,a,exited\nx,1,0\n", r"bad\.csv: no column 'b'"),
        ("corporation,a,b,exited\nx,1,two,0\n", r"bad\.csv: column 'b': value 'two' is not a"),
        ("corporation,a,b,exited\nx,1,2,yes\n", r"bad\.csv: column 'exited': value 'yes'"),
    ],
)
def test_bad_files_are_refused_naming_the_file_and_column(spark, tmp_path, content, message):
    from utils.engines.spark import read_features, values_checked

    (tmp_path / "good.csv").write_text("corporation,a,b,exited\nx,1,2,0\n")
    (tmp_path / "bad.csv").write_text(content)
    paths = [str(tmp_path / "good.csv"), str(tmp_path / "bad.csv")]
    # A missing column on reading; a bad value at the first action over the rows.
    with pytest.raises(PipelineError, match=message):
        with values_checked(spark, paths, SCHEMA, target=True):
            read_features(spark, paths, SCHEMA, target=True).collect()


@needs_spark
def test_the_first_bad_value_is_named_file_by_file_then_column_by_column(spark, tmp_path):
    from utils.engines.spark import read_features, values_checked

    (tmp_path / "one.csv").write_text("corporation,a,b,exited\nx,1,2,0\ny,1,1e400,0\n")
    (tmp_path / "two.csv").write_text("corporation,a,b,exited\nx,zero,2,0\n")
    paths = [str(tmp_path / "one.csv"), str(tmp_path / "two.csv")]
    with pytest.raises(PipelineError, match=r"one\.csv: column 'b': value inf is out of range"):
        with values_checked(spark, paths, SCHEMA, target=True):
            read_features(spark, paths, SCHEMA, target=True).collect()
    # Other failures pass through as they are.
    with pytest.raises(ZeroDivisionError):
        with values_checked(spark, paths, SCHEMA):
            raise ZeroDivisionError


@needs_spark
def test_spark_udf_predicts_what_the_model_predicts_and_counts_the_same(
    spark, logged_model, tmp_path
):
    from utils.engines.spark import (
        confusion_of,
        read_features,
        with_predictions,
        write_predictions_csv,
    )

    model, uri = logged_model
    test = frame(500, 4)
    test.loc[[5, 17], "b"] = np.nan  # imputed by the model, on both engines
    (tmp_path / "test.csv").write_text(test.to_csv(index=False))
    read = read_features(spark, [str(tmp_path / "test.csv")], SCHEMA, target=True)
    scored = with_predictions(spark, read, uri, SCHEMA)
    expected = model.predict(test[list(SCHEMA.features)])
    assert scored.toPandas()["prediction"].tolist() == expected.tolist()
    counts = confusion_of(scored, SCHEMA.target)
    assert counts.tolist() == confusion_counts(test["exited"].to_numpy(), expected).tolist()

    output = tmp_path / "out" / "predictions.csv"
    output.parent.mkdir()
    assert write_predictions_csv(scored, ["corporation", "prediction"], output) == 500
    written = pd.read_csv(output, dtype={"corporation": str})
    assert written.columns.tolist() == ["corporation", "prediction"]
    assert written["corporation"].tolist() == test["corporation"].tolist()
    assert written["prediction"].tolist() == expected.tolist()
    assert sorted(p.name for p in output.parent.iterdir()) == ["predictions.csv"]


@needs_spark
def test_a_bad_value_met_while_writing_predictions_leaves_nothing(spark, logged_model, tmp_path):
    from utils.engines.spark import (
        read_features,
        values_checked,
        with_predictions,
        write_predictions_csv,
    )

    _, uri = logged_model
    test = frame(200, 5)
    test["b"] = test["b"].astype(object)
    test.loc[150, "b"] = "1d"  # Spark's cast reads it; pandas does not
    (tmp_path / "test.csv").write_text(test.to_csv(index=False))
    paths = [str(tmp_path / "test.csv")]
    output = tmp_path / "out" / "predictions.csv"
    output.parent.mkdir()
    scored = with_predictions(spark, read_features(spark, paths, SCHEMA), uri, SCHEMA)
    with pytest.raises(PipelineError, match=r"test\.csv: column 'b': value '1d' is not a number"):
        with values_checked(spark, paths, SCHEMA):
            write_predictions_csv(scored, ["corporation", "prediction"], output)
    assert list(output.parent.iterdir()) == []


@needs_spark
def test_spark_scoring_gives_the_local_metrics_roc_auc_included(spark, logged_model, tmp_path):
    from utils.engines.base import EngineSettings
    from utils.engines.choose import engine_for
    from utils.model.scoring import evaluate

    model, uri = logged_model
    test = frame(600, 6)
    test.loc[[3, 9], "a"] = np.nan
    # Equal rows with both labels: tied probabilities, which count half.
    flipped = test.iloc[:80].assign(exited=lambda f: 1 - f["exited"])
    test = pd.concat([test, flipped], ignore_index=True)
    path = tmp_path / "test.csv"
    test.to_csv(path, index=False)
    remote = engine_for(EngineSettings("spark", "local[2]")).metrics_of(uri, path, SCHEMA)
    local = evaluate(model, test, SCHEMA)
    assert 0.5 < local["roc_auc"] < 1
    assert remote == pytest.approx(local, rel=1e-12)


@needs_spark
@pytest.mark.parametrize("partitions", [1, 3])
def test_roc_auc_on_the_executors_is_the_mann_whitney_statistic(spark, partitions):
    from utils.engines.spark import PROBABILITY, roc_auc_of
    from utils.model.scoring import roc_auc

    rng = np.random.default_rng(partitions)
    truth = rng.integers(0, 2, size=2000)
    scores = np.round(rng.random(2000) * 0.5 + truth * 0.3, 2)  # many ties, some overlap
    data = spark.createDataFrame(pd.DataFrame({"exited": truth, PROBABILITY: scores})).repartition(
        partitions
    )
    # Small data would be coalesced into one sorted partition; the offsets between
    # partitions are what is tested with several.
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    try:
        assert roc_auc_of(data, "exited") == pytest.approx(roc_auc(truth, scores), rel=1e-12)
        assert np.isnan(roc_auc_of(data.where("exited = 1"), "exited"))
    finally:
        spark.conf.unset("spark.sql.adaptive.enabled")


@needs_spark
def test_a_model_that_is_not_there_is_one_line(spark, logged_model, tmp_path):
    from utils.engines.spark import read_features, with_predictions

    (tmp_path / "t.csv").write_text(frame(5, 5).to_csv(index=False))
    read = read_features(spark, [str(tmp_path / "t.csv")], SCHEMA)
    with pytest.raises(PipelineError, match="model models:/m-missing: "):
        with_predictions(spark, read, "models:/m-missing", SCHEMA)


@needs_spark
def test_storage_spark_cannot_list_is_named_in_one_line(spark, tmp_path):
    from utils.engines.spark import listed_by_spark

    with pytest.raises(PipelineError, match=r"^nosuch://bucket/feed: cannot list it \(.*nosuch"):
        listed_by_spark(spark, "nosuch://bucket/feed")
    (tmp_path / "b.parquet").write_bytes(b"")
    (tmp_path / "a.csv").write_text("x\n")
    (tmp_path / "c.txt").write_text("x\n")
    listed = listed_by_spark(spark, f"file://{tmp_path}")
    assert [name.rsplit("/", 1)[-1] for name in listed] == ["a.csv", "b.parquet"]
    with pytest.raises(PipelineError, match=r"no \*\.csv or \*\.parquet files there"):
        listed_by_spark(spark, f"file://{tmp_path}/none-*")


def test_without_pyspark_the_engine_says_how_to_install_it(monkeypatch):
    import builtins

    from utils.engines.spark import spark_session

    real_import = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name.startswith("pyspark"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    with pytest.raises(PipelineError, match=r"needs PySpark: run ./setup_env.sh spark"):
        spark_session("local[1]", {})


@needs_spark
def test_diagnostics_statistics_are_the_local_ones(spark, tmp_path):
    from utils.data.schema import read_dataset
    from utils.engines.spark import column_statistics
    from utils.report.diagnostics import missing_percent, summary_statistics

    data = frame(501, 6)
    data.loc[[3, 40, 41], "a"] = np.nan
    data.loc[7, "corporation"] = None
    data["b"] = (data["b"] * 1000).round()  # a whole-number column, read as integers locally
    path = tmp_path / "finaldata.csv"
    data.to_csv(path, index=False)
    local = read_dataset(path, SCHEMA)
    statistics, missing = column_statistics(spark, str(path), SCHEMA)
    expected = summary_statistics(local, ["corporation"])
    assert list(statistics) == list(expected) == ["a", "b", "exited"]
    for column, figures in expected.items():
        assert statistics[column]["median"] == figures["median"]
        for kind in ("mean", "std"):
            assert statistics[column][kind] == pytest.approx(figures[kind], rel=1e-12)
    assert missing == missing_percent(local)
    assert missing["a"] == pytest.approx(3 / 501 * 100) and missing["corporation"] > 0


@needs_spark
def test_missing_markers_read_as_missing_on_both_engines(spark, tmp_path):
    from utils.data.schema import read_feature_columns
    from utils.engines.spark import read_features

    path = tmp_path / "batch.csv"
    path.write_text("corporation,a,b\nx,NA,1\ny,nan,\nz, 2 ,NULL\n")
    local = read_feature_columns(path, ["a", "b"], ("corporation",)).to_pandas()
    remote = read_features(spark, [str(path)], SCHEMA).toPandas()
    assert remote["corporation"].tolist() == local["corporation"].tolist() == ["x", "y", "z"]
    for column in ("a", "b"):
        assert np.allclose(remote[column], local[column], equal_nan=True), column
    assert local["a"].isna().tolist() == [True, True, False]


NUMBER_CELLS = [
        "1", "-0", "+1.5", "00.10", ".5", "5.", ".", "-", "+", "e5", "1e", "1e+5", "1E-3",
        "1.2.3", "+-1", "1-", "--1", "1e5.5", "1e999", "-1e999", "1d", "1f", "0x1p3", "NaN",
        "nan", "inf", "-inf", "Infinity", "-Infinity", "INF", " 5 ", "5 ", "1 2", "", "NA",
        "null", "1_0", "\u0661", "１", "1e+", "+.e1", "1e300", "-1e300", None,
]  # fmt: skip


@needs_spark
def test_number_of_reads_exactly_what_the_regular_expression_alone_reads(spark):
    """The cast without the regular expression for text of digits, signs, points and
    exponents only: the same number or null as the expression for every other kind too."""
    import math

    from pyspark.sql import functions as F

    from utils.engines.spark import _NUMBER, missing_text, number_of

    rows = spark.createDataFrame([(c,) for c in NUMBER_CELLS], "cell string")
    cell = F.col("cell")
    oracle = F.when(~missing_text(cell) & cell.rlike(_NUMBER), cell.try_cast("double"))
    got = rows.select("cell", number_of(cell).alias("new"), oracle.alias("old")).collect()
    for row in got:
        same = row["new"] == row["old"] or (
            row["new"] is not None and row["old"] is not None
            and math.isnan(row["new"]) and math.isnan(row["old"])
        )  # fmt: skip
        assert same, (row["cell"], row["new"], row["old"])
    assert sum(row["new"] is not None for row in got) >= 15  # the table is not all nulls


def test_no_missing_value_marker_but_the_empty_one_looks_like_a_plain_number():
    import re

    from utils.data.schema import NA_MARKERS
    from utils.engines.spark import _PLAIN_NUMBER

    # number_of reads plain-number text by the cast before it looks for markers.
    assert [m for m in NA_MARKERS if re.fullmatch(_PLAIN_NUMBER.strip("^$"), m)] == []


@needs_spark
def test_a_checked_number_stops_the_job_exactly_where_a_cell_breaks_the_contract(spark):
    from pyspark.sql import functions as F

    from utils.engines.spark import _OUT_OF_CONTRACT, checked_number, number_of, out_of_contract

    rows = spark.createDataFrame([(c,) for c in NUMBER_CELLS], "cell string")
    expected = rows.select(
        "cell", out_of_contract("cell").alias("broken"), number_of(F.col("cell"))
    )
    for cell, broken, number in expected.collect():
        one = rows.where(F.col("cell").eqNullSafe(cell)).select(checked_number("cell"))
        if broken:
            with pytest.raises(Exception, match=_OUT_OF_CONTRACT):
                one.collect()
        else:
            assert one.collect()[0][0] == number or (cell, number) == ("NaN", None), cell
    assert sum(bool(b) for _, b, _ in expected.collect()) >= 10
