"""Each bad input makes a step exit non-zero with one line naming the file and column."""

import pytest

# Each case runs a step script as MLflow would (a process), for its exit code and stderr.
pytestmark = pytest.mark.integration

SCHEMA_ARGS = [
    "--target",
    "exited",
    "--features",
    "lastmonth_activity,lastyear_activity,number_of_employees",
    "--id_columns",
    "corporation",
]


def ingest(run_script, input_dir, output_dir):
    return run_script(
        "01_data/ingestion.py",
        "--input_dir",
        input_dir,
        "--output_dir",
        output_dir,
        *SCHEMA_ARGS,
        *store_args(output_dir),
    )


def store_args(folder):
    return ["--store_url", f"sqlite:///{folder / 'monitoring.db'}"]


@pytest.fixture
def previous_output(tmp_path):
    """An earlier ingestion's output, which a failed run must leave as it was."""
    out = tmp_path / "ingested"
    out.mkdir()
    (out / "finaldata.csv").write_text("earlier\n")
    return out


def test_missing_input_folder(tmp_path, run_script, assert_one_line_error, previous_output):
    proc = ingest(run_script, tmp_path / "nowhere", previous_output)
    assert_one_line_error(proc, "nowhere: input folder not found")
    assert (previous_output / "finaldata.csv").read_text() == "earlier\n"


def test_folder_without_csv(tmp_path, run_script, assert_one_line_error, previous_output):
    (tmp_path / "in").mkdir()
    assert_one_line_error(
        ingest(run_script, tmp_path / "in", previous_output), "no *.csv or *.parquet files"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "e.csv: file is empty"),
        (
            "corporation,lastmonth_activity,lastyear_activity,number_of_employees,exited\n",
            "e.csv: has a header but no data rows",
        ),
        (
            "corporation,lastmonth_activity,lastyear_activity,exited\na,1,2,0\n",
            "e.csv: missing required column(s) 'number_of_employees'",
        ),
        (
            "corporation,lastmonth_activity,lastyear_activity,number_of_employees,exited\n"
            "a,1,2,3,0\nb,1,many,3,1\n",
            "e.csv: column 'lastyear_activity' has non-numeric value 'many' on line 3",
        ),
        (
            "corporation,lastmonth_activity,lastyear_activity,number_of_employees,exited\n"
            "a,1,2,3,0\nb,1,2,3,7\n",
            "e.csv: column 'exited' (target) must be binary 0/1, found 7 on line 3",
        ),
    ],
    ids=["empty", "header-only", "missing-column", "non-numeric", "non-binary-target"],
)
def test_bad_file(
    tmp_path, run_script, assert_one_line_error, previous_output, tiny_frame, content, message
):
    (tmp_path / "in").mkdir()
    tiny_frame.to_csv(tmp_path / "in" / "a.csv", index=False)
    (tmp_path / "in" / "e.csv").write_text(content)
    assert_one_line_error(ingest(run_script, tmp_path / "in", previous_output), message)
    assert (previous_output / "finaldata.csv").read_text() == "earlier\n"
    assert not (previous_output / "ingestedfiles.txt").exists()


def test_missing_model(tmp_path, run_script, assert_one_line_error, tiny_frame):
    tiny_frame.to_csv(tmp_path / "test.csv", index=False)
    proc = run_script(
        "03_scoring/scoring.py",
        "--model_dir",
        tmp_path / "models",
        "--test_data",
        tmp_path / "test.csv",
        *SCHEMA_ARGS,
        *store_args(tmp_path),
    )
    assert_one_line_error(proc, "trainedmodel.skops: model file not found")


def test_missing_test_file(tmp_path, run_script, assert_one_line_error, tiny_frame, schema):
    from utils.model.training import ModelParams, save_model, train_model

    save_model(train_model(tiny_frame, schema, ModelParams()), {}, tmp_path / "models")
    proc = run_script(
        "03_scoring/scoring.py",
        "--model_dir",
        tmp_path / "models",
        "--test_data",
        tmp_path / "absent.csv",
        *SCHEMA_ARGS,
        *store_args(tmp_path),
    )
    assert_one_line_error(proc, "absent.csv: data file not found")
    assert not (tmp_path / "models" / "latestscore.txt").exists()


def test_missing_training_data(tmp_path, run_script, assert_one_line_error):
    proc = run_script(
        "02_training/train.py",
        "--finaldata",
        tmp_path / "finaldata.csv",
        "--model_dir",
        tmp_path / "models",
        *SCHEMA_ARGS,
        *store_args(tmp_path),
        "--C",
        "1",
        "--max_iter",
        "100",
        "--solver",
        "lbfgs",
        "--random_state",
        "0",
    )
    assert_one_line_error(proc, "finaldata.csv: data file not found")
    assert not (tmp_path / "models").exists()


def test_deployment_without_score_leaves_production_alone(
    tmp_path, run_script, assert_one_line_error
):
    production = tmp_path / "production_deployment"
    proc = run_script(
        "04_deployment/deployment.py",
        "--model_dir",
        tmp_path / "models",
        "--ingested_dir",
        tmp_path,
        "--deployment_dir",
        production,
        "--registered_model_name",
        "m",
        *store_args(tmp_path),
    )
    assert_one_line_error(proc, "trainedmodel.pkl not found")
    assert not production.exists()


def test_debug_flag_shows_the_traceback(tmp_path, run_script):
    proc = run_script(
        "01_data/ingestion.py",
        "--input_dir",
        tmp_path / "nowhere",
        "--output_dir",
        tmp_path,
        *SCHEMA_ARGS,
        *store_args(tmp_path),
        env={"PIPELINE_DEBUG": "1"},
    )
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_unreachable_store_fails_before_anything_is_written(
    tmp_path, run_script, assert_one_line_error, previous_output, tiny_frame
):
    (tmp_path / "in").mkdir()
    tiny_frame.to_csv(tmp_path / "in" / "a.csv", index=False)
    proc = run_script(
        "01_data/ingestion.py",
        "--input_dir",
        tmp_path / "in",
        "--output_dir",
        previous_output,
        *SCHEMA_ARGS,
        "--store_url",
        "postgresql://me@127.0.0.1:9/monitoring",
    )
    assert_one_line_error(proc, "monitoring store postgresql://me@127.0.0.1:9/monitoring:")
    assert (previous_output / "finaldata.csv").read_text() == "earlier\n"
