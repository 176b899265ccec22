"""batch_scoring.py on a project whose model is deployed: the local engine against the model
itself, the Spark engine (local[2]) against the local one, file for file."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import needs_spark, relocate, run_in
from utils.data.schema import DataSchema, read_dataset
from utils.model.deployment import load_deployed_model
from utils.report.diagnostics import missing_percent, summary_statistics

# Each test runs batch_scoring.py on a project where main.py has run.
pytestmark = pytest.mark.integration

SPARK = ["compute.engine=spark", "compute.spark_master='local[2]'"]
SCHEMA = DataSchema(
    "exited", ("lastmonth_activity", "lastyear_activity", "number_of_employees"), ("corporation",)
)


@pytest.fixture(scope="module")
def project(tmp_path_factory, deployed_template):
    """The demo data ingested, a model trained, scored and deployed (local engine)."""
    return relocate(deployed_template, tmp_path_factory.mktemp("batch") / "project")


def scored(project, output: str) -> pd.DataFrame:
    return pd.read_csv(project / output, dtype={"corporation": str})


def test_the_local_engine_writes_the_deployed_models_classes_in_input_order(project):
    run_in(project, "batch_scoring.py", "--input", "01_data/practicedata", "--output", "all.csv")
    files = sorted((project / "01_data/practicedata").glob("*.csv"))
    rows = pd.concat([pd.read_csv(f, dtype={"corporation": str}) for f in files])
    model, manifest = load_deployed_model(project / "production_deployment")
    got = scored(project, "all.csv")
    assert got.columns.tolist() == ["corporation", "prediction"]
    assert got["corporation"].tolist() == rows["corporation"].tolist()
    assert got["prediction"].tolist() == model.predict(rows[manifest["features"]]).tolist()


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (None, ["--input", "no CSV or Parquet file there"]),
        ("corporation,lastmonth_activity\nx,1\n", ["bad.csv", "no column 'lastyear_activity'"]),
        (
            "corporation,lastmonth_activity,lastyear_activity,number_of_employees\nx,1,two,3\n",
            ["bad.csv", "column 'lastyear_activity' has non-numeric value 'two' on line 2"],
        ),
        (
            "corporation,lastmonth_activity,lastyear_activity,number_of_employees\nx,1,2,3\n"
            "y,1,1e400,3\n",
            ["bad.csv", "column 'lastyear_activity' has infinite value inf on line 3"],
        ),
        (
            "corporation,lastmonth_activity,lastyear_activity,number_of_employees\nx,1e308,2,3\n",
            ["bad.csv", "column 'lastmonth_activity' has out-of-range value 1e+308 on line 2"],
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    project, assert_one_line_error, content, fragments
):
    source = project / "bad" / "bad.csv"
    if content is not None:
        source.parent.mkdir(exist_ok=True)
        source.write_text(content)
    spec = str(source) if content is not None else str(project / "nowhere")
    failed = run_in(
        project, "batch_scoring.py", "--input", spec, "--output", "bad.out", check=False
    )
    assert failed.returncode == 2
    assert_one_line_error(failed, *fragments)
    assert not (project / "bad.out").exists()


@needs_spark
def test_a_bad_value_on_spark_is_one_line_and_writes_nothing(project, assert_one_line_error):
    """Spark meets the value while scoring (no pass of its own checks first): the job stops,
    the file and column are named, and neither the output nor its parts are left."""
    source = project / "bad-spark" / "bad.csv"
    source.parent.mkdir(exist_ok=True)
    rows = "".join(f"r{i},{i},{2 * i},3\n" for i in range(500))
    source.write_text(
        f"corporation,lastmonth_activity,lastyear_activity,number_of_employees\n{rows}x,1,0x1p3,3\n"
    )
    failed = run_in(
        project, "batch_scoring.py", "--input", str(source), "--output", "bad-spark.out",
        *SPARK, check=False,
    )  # fmt: skip
    assert failed.returncode == 2
    assert_one_line_error(
        failed, "bad.csv", "column 'lastyear_activity'", "'0x1p3' is not a number"
    )
    assert not list(project.glob("*bad-spark.out*"))


def test_parquet_input_is_scored_as_the_same_csv(project, tmp_path):
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    for source in sorted((project / "01_data/practicedata").glob("*.csv")):
        frame = pd.read_csv(source, dtype={"corporation": str})
        frame.to_parquet(parquet / f"{source.stem}.parquet", index=False)
    run_in(project, "batch_scoring.py", "--input", "01_data/practicedata", "--output", "c.csv")
    run_in(project, "batch_scoring.py", "--input", str(parquet), "--output", "p.csv")
    assert (project / "p.csv").read_bytes() == (project / "c.csv").read_bytes()


def test_a_uri_needs_the_spark_engine(project, assert_one_line_error):
    failed = run_in(
        project, "batch_scoring.py", "--input", "s3a://bucket/feed/", "--output", "u.csv",
        check=False,
    )  # fmt: skip
    assert failed.returncode == 2
    assert_one_line_error(failed, "s3a://bucket/feed/", "compute.engine=spark")


@pytest.mark.integration
@needs_spark
def test_spark_ingests_a_uri_and_scores_exactly_as_the_local_engine(project):
    """The input folder as a URI, which only Spark reads (main.py leaves it to Spark to list),
    in local[2]. The whole pipeline on Spark with folders, diagnostics and batch scoring
    included, runs on a standalone cluster in tests/test_spark_cluster.py."""
    ingested = project / "01_data/ingesteddata"
    local = {f.name: f.read_bytes() for f in ingested.iterdir() if f.suffix in (".csv", ".txt")}
    local_score = (project / "models/latestscore.txt").read_text()
    uri = f"paths.input_dir=file://{project / '01_data/practicedata'}"
    run_in(project, "main.py", "main.steps=data_ingestion,model_scoring", uri, *SPARK)
    assert {name: (ingested / name).read_bytes() for name in local} == local
    assert (project / "models/latestscore.txt").read_text() == local_score


@pytest.mark.integration
@needs_spark
def test_spark_batch_scores_the_course_data_as_the_local_engine(project, udacity_dir):
    assert_same_batch_scores(project, "course", str(udacity_dir / "practicedata"))


def assert_same_batch_scores(project, name: str, spec: str) -> None:
    run_in(project, "batch_scoring.py", "--input", spec, "--output", f"{name}-local.csv")
    run_in(project, "batch_scoring.py", "--input", spec, "--output", f"{name}-spark.csv", *SPARK)
    local = (project / f"{name}-local.csv").read_bytes()
    assert (project / f"{name}-spark.csv").read_bytes() == local, name
    assert len(local.splitlines()) > 1


@pytest.mark.integration
@needs_spark
def test_finaldata_as_parquet_on_both_engines_trains_and_diagnoses(project, tmp_path):
    """Last in this module: it leaves the project's ingested data as Parquet."""
    import polars as pl

    as_parquet = "paths.finaldata_format=parquet"
    finaldata = project / "01_data/ingesteddata/finaldata.parquet"
    read = {}
    for engine in ("spark", "local"):
        chosen = SPARK if engine == "spark" else []
        run_in(project, "main.py", "main.steps=data_ingestion", as_parquet, *chosen)
        read[engine] = pl.read_parquet(finaldata)
    assert read["spark"].equals(read["local"]) and read["spark"].schema == read["local"].schema
    assert not (project / "01_data/ingesteddata/finaldata.csv").exists()
    # Training (here), diagnostics (on Spark) and the report (through the API's
    # /summarystats) read it.
    steps = "main.steps=model_training,diagnostics,reporting"
    run_in(project, "main.py", steps, as_parquet, *SPARK)
    metadata = json.loads((project / "models/trainedmodel.json").read_text())
    assert metadata["training_rows"] == read["local"].height
    answers = (project / "models/apireturns.txt").read_text()
    assert '"dataset": "finaldata.parquet"' in answers
    on_spark = json.loads((project / "models/diagnostics.json").read_text())
    data = read_dataset(finaldata, SCHEMA)
    assert on_spark["missing_percent"] == missing_percent(data)
    local = summary_statistics(data, list(SCHEMA.id_columns))
    for column, figures in local.items():
        assert on_spark["summary_statistics"][column] == pytest.approx(figures, rel=1e-12)
