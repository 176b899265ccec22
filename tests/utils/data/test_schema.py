import re

import pandas as pd
import pytest

from utils.data.schema import DataSchema, read_dataset, read_feature_columns, validate_frame
from utils.errors import PipelineError


def test_valid_frame_keeps_schema_columns_in_order(tiny_frame, schema):
    shuffled = tiny_frame[["exited", "number_of_employees", "corporation", *schema.features[:2]]]
    out = validate_frame(shuffled.assign(extra=1), schema, "x.csv")
    assert list(out.columns) == schema.columns
    assert out["exited"].dtype == "int64"


def test_missing_column_is_named(tiny_frame, schema):
    with pytest.raises(PipelineError, match=r"x\.csv: missing required column\(s\) 'exited'"):
        validate_frame(tiny_frame.drop(columns="exited"), schema, "x.csv")


def test_non_numeric_feature_names_column_value_and_line(tiny_frame, schema):
    bad = tiny_frame.astype({"lastyear_activity": object})
    bad.loc[2, "lastyear_activity"] = "lots"
    with pytest.raises(
        PipelineError, match=r"'lastyear_activity' has non-numeric value 'lots' on line 4"
    ):
        validate_frame(bad, schema, "x.csv")


def test_numeric_strings_are_accepted(tiny_frame, schema):
    as_text = tiny_frame.astype({"number_of_employees": str})
    out = validate_frame(as_text, schema, "x.csv")
    assert out["number_of_employees"].tolist() == tiny_frame["number_of_employees"].tolist()


def test_missing_feature_values_are_allowed(tiny_frame, schema):
    with_gap = tiny_frame.astype({"lastmonth_activity": float})
    with_gap.loc[0, "lastmonth_activity"] = None
    assert validate_frame(with_gap, schema, "x.csv")["lastmonth_activity"].isna().sum() == 1


@pytest.mark.parametrize("value", [2, -1, "yes"])
def test_non_binary_target_is_refused(tiny_frame, schema, value):
    bad = tiny_frame.astype({"exited": object})
    bad.loc[5, "exited"] = value
    with pytest.raises(PipelineError, match=r"'exited' \(target\) must be binary 0/1.* on line 7"):
        validate_frame(bad, schema, "x.csv")


def test_empty_target_is_refused(tiny_frame, schema):
    bad = tiny_frame.astype({"exited": float})
    bad.loc[1, "exited"] = None
    with pytest.raises(PipelineError, match=r"'exited' \(target\) is empty on line 3"):
        validate_frame(bad, schema, "x.csv")


def test_header_only_file(write_csv, schema):
    path = write_csv("h.csv", ",".join(schema.columns) + "\n")
    with pytest.raises(PipelineError, match=r"h\.csv: has a header but no data rows"):
        read_dataset(path, schema)


def test_empty_file(write_csv, schema):
    path = write_csv("e.csv", "")
    with pytest.raises(PipelineError, match=r"e\.csv: file is empty"):
        read_dataset(path, schema)


def test_missing_file(tmp_path, schema):
    with pytest.raises(PipelineError, match=r"nope\.csv: data file not found"):
        read_dataset(tmp_path / "nope.csv", schema)


def test_unparseable_csv(write_csv, schema):
    path = write_csv("bad.csv", ",".join(schema.columns) + '\n"a,1,2,3,0\n')
    with pytest.raises(PipelineError, match=r"bad\.csv: not a readable CSV file"):
        read_dataset(path, schema)


def test_schema_refuses_target_as_feature():
    with pytest.raises(PipelineError, match="data.features"):
        DataSchema("y", ("a", "y"))


def test_schema_needs_a_feature():
    with pytest.raises(PipelineError, match="at least one feature"):
        DataSchema("y", ())


def test_reads_the_course_file(schema, udacity_dir):
    path = udacity_dir / "testdata" / "testdata.csv"
    frame = read_dataset(path, schema)
    assert len(frame) == len(pd.read_csv(path))


def test_without_ids_the_id_columns_are_skipped(write_csv, schema, tiny_frame):
    path = write_csv("t.csv", tiny_frame)
    frame = read_dataset(path, schema, ids=False)
    assert frame.columns.tolist() == [*schema.features, schema.target]
    assert frame[schema.target].tolist() == tiny_frame[schema.target].tolist()


def test_without_ids_a_missing_id_column_is_still_named(write_csv, schema, tiny_frame):
    path = write_csv("t.csv", tiny_frame.drop(columns="corporation"))
    with pytest.raises(PipelineError, match=r"t\.csv: missing required column\(s\) 'corporation'"):
        read_dataset(path, schema, ids=False)


def test_read_types_follow_the_contract(write_csv, schema, tiny_frame):
    frame = read_dataset(write_csv("t.csv", tiny_frame), schema)
    assert frame.columns.tolist() == schema.columns
    assert [str(t) for t in frame.dtypes] == ["str", "int64", "int64", "int64", "int64"]
    assert frame["lastmonth_activity"].tolist() == tiny_frame["lastmonth_activity"].tolist()


def test_decimals_or_missing_values_make_a_feature_float(write_csv, schema):
    header = ",".join(schema.columns) + "\n"
    frame = read_dataset(write_csv("t.csv", header + "a,1.5,,-0,1\nb,2,3,NaN,0\n"), schema)
    assert [str(t) for t in frame.dtypes] == ["str", "float64", "float64", "float64", "int64"]
    assert frame["lastmonth_activity"].tolist() == [1.5, 2.0]
    assert frame["lastyear_activity"].isna().tolist() == [True, False]
    assert str(frame["number_of_employees"][0]) == "0.0"  # not -0.0
    assert frame["number_of_employees"].isna().tolist() == [False, True]


def test_checking_a_file_leaves_the_csv_modules_limit_as_it_was(tmp_path):
    import csv

    from utils.data.schema import _structure_problem

    path = tmp_path / "wide.csv"
    path.write_text("a,b\n" + "x" * 200_000 + ",1\n")
    before = csv.field_size_limit()
    assert _structure_problem(path) is None
    assert csv.field_size_limit() == before


def test_feature_columns_of_data_to_score(tmp_path):
    from utils.data.schema import read_feature_columns

    path = tmp_path / "batch.csv"
    path.write_text("id,a,b,extra\n007,1,NA,x\n008,,2.5,y\n")
    frame = read_feature_columns(path, ["a", "b"], ("id", "absent"))
    assert frame.columns == ["id", "a", "b"]
    assert frame["id"].to_list() == ["007", "008"]
    assert frame["a"].to_list() == [1.0, None] and frame["b"].to_list() == [None, 2.5]
    path.write_text("id,a\n1,2\n")
    with pytest.raises(PipelineError, match=r"batch\.csv: no column 'b'"):
        read_feature_columns(path, ["a", "b"], ("id",))
    path.write_text("id,a,b\n1,2,3\n1,2,three\n")
    with pytest.raises(
        PipelineError,
        match=r"batch\.csv: column 'b' has non-numeric value "
        r"'three' on line 3$",
    ):
        read_feature_columns(path, ["a", "b"], ("id",))


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("inf", "column 'b' has infinite value inf on line 3; features must be finite"),
        ("-Infinity", "column 'b' has infinite value -inf on line 3"),
        ("1e400", "column 'b' has infinite value inf on line 3"),
        ("1e308", "column 'b' has out-of-range value 1e+308 on line 3; features must be "
                  "finite numbers of magnitude at most 1e+100"),
        ("-1.0000001e100", "column 'b' has out-of-range value -1.0000001e+100 on line 3"),
    ],
)  # fmt: skip
def test_data_to_score_holds_the_contract_naming_file_line_and_column(tmp_path, cell, message):
    path = tmp_path / "batch.csv"
    path.write_text(f"id,a,b\n1,2,3\n2,2,{cell}\n")
    with pytest.raises(PipelineError, match=re.escape(f"batch.csv: {message}")):
        read_feature_columns(path, ["a", "b"], ("id",))
    path.write_text("id,a,b\n1,2,3\n2,2,1e100\n3,-1e100,0\n")
    assert read_feature_columns(path, ["a", "b"], ("id",))["b"].to_list() == [3.0, 1e100, 0.0]


# Parquet: typed columns taken as they are, the same contract, rows named from 1.


def _parquet(tmp_path, frame, name="p.parquet"):
    path = tmp_path / name
    frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f,
        lambda f: f.astype({"lastmonth_activity": float}),
        lambda f: f.astype({"number_of_employees": str}),
        lambda f: f.astype({"exited": bool}),
        lambda f: f.astype({"exited": float}),
    ],
    ids=["integers", "a decimal column", "numbers as text", "boolean target", "decimal target"],
)
def test_parquet_reads_as_the_same_csv_does(tmp_path, tiny_frame, schema, change):
    frame = change(tiny_frame.copy())
    csv_path = tmp_path / "p.csv"
    frame.to_csv(csv_path, index=False)
    from_parquet = read_dataset(_parquet(tmp_path, frame), schema)
    # The values are the CSV's; the types are the Parquet file's own (a CSV's are guessed).
    pd.testing.assert_frame_equal(from_parquet, read_dataset(csv_path, schema), check_dtype=False)
    assert from_parquet["exited"].dtype == "int64"


def test_parquet_integer_columns_stay_integers(tmp_path, tiny_frame, schema):
    read = read_dataset(_parquet(tmp_path, tiny_frame.astype({"exited": bool})), schema)
    assert (read.dtypes[list(schema.features)] == "int64").all()


def test_parquet_missing_values_and_nan_are_missing(tmp_path, tiny_frame, schema):
    frame = tiny_frame.astype({"lastyear_activity": float})
    frame.loc[1, "lastyear_activity"] = float("nan")
    frame.loc[2, "lastyear_activity"] = None
    read = read_dataset(_parquet(tmp_path, frame), schema)
    assert read["lastyear_activity"].isna().tolist() == [False, True, True, False, False, False]


@pytest.mark.parametrize(
    ("column", "dtype", "row", "value", "message"),
    [
        ("lastyear_activity", str, 3, "lots", r"'lastyear_activity' has non-numeric value 'lots' in row 4$"),  # noqa: E501
        ("lastmonth_activity", float, 0, float("inf"), r"'lastmonth_activity' has infinite value inf in row 1;"),  # noqa: E501
        ("lastmonth_activity", float, 2, 1e308, r"'lastmonth_activity' has out-of-range value 1e\+308 in row 3;"),  # noqa: E501
        ("exited", float, 5, None, r"'exited' \(target\) is empty in row 6$"),
        ("exited", float, 2, 0.5, r"'exited' \(target\) must be binary 0/1, found 0\.5 in row 3$"),
        ("exited", int, 4, 2, r"'exited' \(target\) must be binary 0/1, found 2 in row 5$"),
        ("exited", str, 1, "yes", r"'exited' \(target\) must be binary 0/1, found 'yes' in row 2$"),
    ],
)  # fmt: skip
def test_a_bad_parquet_value_is_named_with_its_row(
    tmp_path, tiny_frame, schema, column, dtype, row, value, message
):
    frame = tiny_frame.astype({column: dtype})
    frame.loc[row, column] = value
    with pytest.raises(PipelineError, match=r"p\.parquet: column " + message):
        read_dataset(_parquet(tmp_path, frame), schema)


def test_bad_parquet_files_are_named(tmp_path, tiny_frame, schema):
    with pytest.raises(PipelineError, match=r"p\.parquet: missing required column\(s\) 'exited'"):
        read_dataset(_parquet(tmp_path, tiny_frame.drop(columns="exited")), schema)
    with pytest.raises(PipelineError, match=r"p\.parquet: has no data rows$"):
        read_dataset(_parquet(tmp_path, tiny_frame.head(0)), schema)
    text = tmp_path / "text.parquet"
    text.write_text("a,b\n1,2\n")
    with pytest.raises(PipelineError, match=r"text\.parquet: not a readable Parquet file \("):
        read_dataset(text, schema)
    with pytest.raises(PipelineError, match=r"gone\.parquet: data file not found"):
        read_dataset(tmp_path / "gone.parquet", schema)


def test_feature_columns_of_parquet_data_to_score(tmp_path):
    from utils.data.schema import read_feature_columns

    frame = pd.DataFrame({"id": [7, 8], "a": [1.0, float("nan")], "b": ["NA", "2.5"]})
    path = _parquet(tmp_path, frame, "batch.parquet")
    read = read_feature_columns(path, ["a", "b"], ("id", "absent"))
    assert read.columns == ["id", "a", "b"]
    assert read["id"].to_list() == ["7", "8"]
    assert read["a"].to_list() == [1.0, None] and read["b"].to_list() == [None, 2.5]
    with pytest.raises(PipelineError, match=r"batch\.parquet: no column 'c'"):
        read_feature_columns(path, ["a", "c"], ("id",))
    _parquet(tmp_path, frame.assign(b=["x", "1"]), "batch.parquet")
    with pytest.raises(
        PipelineError,
        match=r"batch\.parquet: column 'b' has non-numeric value "
        r"'x' in row 1",
    ):
        read_feature_columns(path, ["a", "b"], ("id",))
    _parquet(tmp_path, frame.assign(b=[1.0, float("inf")]), "batch.parquet")
    with pytest.raises(
        PipelineError,
        match=r"batch\.parquet: column 'b' has infinite value inf "
        r"in row 2",
    ):
        read_feature_columns(path, ["a", "b"], ("id",))
