import pandas as pd
import pytest
from sklearn.metrics import f1_score

from utils.data.demo import COLUMNS, generate_files, generate_rows, write_demo, write_files
from utils.data.schema import validate_frame
from utils.model.training import ModelParams, train_model


def test_same_seed_same_data():
    assert generate_rows(50, seed=3).equals(generate_rows(50, seed=3))
    assert not generate_rows(50, seed=3).equals(generate_rows(50, seed=4))


def test_rows_follow_the_course_schema(schema):
    frame = generate_rows(100, seed=1)
    assert list(frame.columns) == COLUMNS
    validate_frame(frame, schema, "generated")


def test_duplicate_fraction_and_file_split():
    frames = generate_files(1000, 4, seed=0, duplicate_fraction=0.05)
    combined = pd.concat(frames, ignore_index=True)
    assert [len(f) for f in frames] == [250] * 4
    assert combined.duplicated().sum() == pytest.approx(50, abs=2)


def test_shift_makes_a_trained_model_score_worse(schema):
    features = list(schema.features)
    model = train_model(generate_rows(2000, seed=0), schema, ModelParams())
    same = generate_rows(1000, seed=1)
    shifted = generate_rows(1000, seed=1, shift=1.0)
    f1_same = f1_score(same["exited"], model.predict(same[features]))
    f1_shifted = f1_score(shifted["exited"], model.predict(shifted[features]))
    assert f1_same > 0.7
    assert f1_shifted < f1_same - 0.15


def test_write_files_and_demo(tmp_path):
    paths = write_files(generate_files(10, 2, seed=0), tmp_path / "out", "part")
    assert [p.name for p in paths] == ["part1.csv", "part2.csv"]
    demo = write_demo(tmp_path / "data")
    names = sorted(str(p.relative_to(tmp_path / "data")) for p in demo)
    assert names == [
        "monitoring_demo/covariate_shift.csv",
        "monitoring_demo/labels/sourcedata_labels.csv",
        "practicedata/dataset1.csv",
        "practicedata/dataset2.csv",
        "sourcedata/dataset3.csv",
        "sourcedata/dataset4.csv",
        "testdata/testdata.csv",
    ]


def test_shipped_demo_data_is_what_the_generator_makes(tmp_path):
    from conftest import ROOT

    write_demo(tmp_path)
    for path in (ROOT / "01_data").rglob("*.csv"):
        if any(part.startswith("ingesteddata") for part in path.parts):
            continue
        assert path.read_bytes() == (tmp_path / path.relative_to(ROOT / "01_data")).read_bytes()
