import math

import numpy as np
import pytest

from utils.api import serving
from utils.api.serving import (
    MAX_ID_CHARS,
    RequestError,
    ids_from_json,
    parse_json,
    rows_from_csv,
    rows_from_json,
)
from utils.api.settings import ApiSettings
from utils.errors import named

FEATURES = ["lastmonth_activity", "lastyear_activity", "number_of_employees"]
ALLOWED = {*FEATURES, "corporation", "exited"}


def parse(payload, max_rows=100):
    """The rows as a matrix, whichever form (lists for a few values) they came in."""
    rows = rows_from_json(payload, FEATURES, ALLOWED, max_rows)
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURES))


GOOD = {"lastmonth_activity": 1, "lastyear_activity": 2.5, "number_of_employees": 3}


def test_a_few_values_come_as_lists_more_as_a_matrix(monkeypatch):
    monkeypatch.setattr(serving, "PLAIN_VALUES", 6)
    at_limit, past = [GOOD] * 2, [GOOD] * 3
    assert rows_from_json(at_limit, FEATURES, ALLOWED, 100) == [[1.0, 2.5, 3.0]] * 2
    assert isinstance(rows_from_json(past, FEATURES, ALLOWED, 100), np.ndarray)
    split = {"columns": FEATURES, "data": [[1, 2.5, 3]] * 2}
    assert (
        rows_from_json({"dataframe_split": split}, FEATURES, ALLOWED, 100) == [[1.0, 2.5, 3.0]] * 2
    )
    split["data"].append([1, 2.5, 3])
    assert isinstance(
        rows_from_json({"dataframe_split": split}, FEATURES, ALLOWED, 100), np.ndarray
    )
    # One row as configured: plain lists.
    assert rows_from_json([GOOD], FEATURES, ALLOWED, 100) == [[1.0, 2.5, 3.0]]


@pytest.mark.parametrize(
    "bad",
    [
        {**GOOD, "lastyear_activity": "2"},
        {**GOOD, "lastyear_activity": True},
        {**GOOD, "lastyear_activity": float("nan")},
        {**GOOD, "lastyear_activity": float("-inf")},
        {**GOOD, "lastyear_activity": 10**400},
        {**GOOD, "lastyear_activity": 2e100},
        {**GOOD, "lastyear_activity": [1]},
        {**GOOD, "x": 1},
        {"lastmonth_activity": 1, "number_of_employees": 3},
        [1, 2],
        [1, "2", 3],
        "row",
    ],
)
def test_a_bad_row_is_named_alike_as_lists_and_as_a_matrix(bad):
    """The same first row, alone (plain lists) and before many good rows (numpy first): the
    same error; and as dataframe_split when it is a list."""

    def refusal(payload):
        with pytest.raises(RequestError) as err:
            rows_from_json(payload, FEATURES, ALLOWED, 100)
        return err.value.status, err.value.detail

    alone, among_many = refusal([bad]), refusal([bad] + [GOOD] * 40)
    assert alone == among_many
    assert alone[0] == 400 and ("row 0" in alone[1] or "column(s)" in alone[1])
    if isinstance(bad, list):
        alone = refusal({"dataframe_split": {"columns": FEATURES, "data": [bad]}})
        many = [bad] + [[1, 2.5, 3]] * 40
        assert alone == refusal({"dataframe_split": {"columns": FEATURES, "data": many}})


def test_records_and_mlflow_forms_agree():
    record = {"lastmonth_activity": 1, "lastyear_activity": 2.5, "number_of_employees": 3}
    expected = np.array([[1.0, 2.5, 3.0]])
    split = {
        "columns": ["number_of_employees", "lastmonth_activity", "lastyear_activity"],
        "data": [[3, 1, 2.5]],
    }
    for payload in (
        [record],
        {"dataframe_records": [record]},
        {"instances": [record]},
        {"inputs": [[1, 2.5, 3]]},
        {"dataframe_split": split},
        [{**record, "corporation": "abc", "exited": 1}],
    ):
        assert np.array_equal(parse(payload), expected), payload


def test_null_is_missing():
    matrix = parse([{"lastmonth_activity": None, "lastyear_activity": 2, "number_of_employees": 3}])
    assert math.isnan(matrix[0, 0])


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({}, "expected a list of records"),
        ("text", "expected a list of records"),
        ([], "no rows to predict"),
        (
            [{"lastmonth_activity": 1, "lastyear_activity": 2}],
            "missing column(s): 'number_of_employees'",
        ),
        (
            [{"lastmonth_activity": 1, "lastyear_activity": 2, "number_of_employees": 3, "x": 1}],
            "unknown column(s): 'x'",
        ),
        (
            [{"lastmonth_activity": "1", "lastyear_activity": 2, "number_of_employees": 3}],
            "row 0, column 'lastmonth_activity': expected a number",
        ),
        (
            [{"lastmonth_activity": True, "lastyear_activity": 2, "number_of_employees": 3}],
            "expected a number",
        ),
        ([[1, 2]], "row 0: expected 3 values"),
        ([5], "row 0: expected an object or a list"),
        ({"instances": [], "inputs": []}, "give exactly one of"),
        ({"dataframe_split": {"columns": "a"}}, "dataframe_split needs"),
        (
            {"dataframe_split": {"columns": FEATURES, "data": [[1, 2]]}},
            "row 0: expected a list of 3",
        ),
        (
            {"dataframe_split": {"columns": [*FEATURES, *FEATURES], "data": []}},
            "column(s) named more than once: 'lastmonth_activity'",
        ),
        ({"dataframe_split": {"columns": [1, 2], "data": []}}, "must be names"),
    ],
)
def test_invalid_json_payloads_name_the_problem(payload, detail):
    with pytest.raises(RequestError) as err:
        parse(payload)
    assert err.value.status == 400
    assert detail in err.value.detail


def test_non_finite_values_are_refused():
    for value in (float("inf"), float("nan")):
        with pytest.raises(RequestError, match="must be finite"):
            parse([[value, 1, 2]])


@pytest.mark.parametrize("value", [1e308, -1.0000001e100, 10**101])
def test_values_beyond_the_data_contract_are_refused_in_every_form(value):
    """1e308 is a finite float, but training on it fails (its square overflows)."""
    record = {"lastmonth_activity": 1, "lastyear_activity": value, "number_of_employees": 3}
    for payload in ([[1, value, 3]], [record], {"inputs": [[1, value, 3]]}):
        with pytest.raises(
            RequestError,
            match="row 0, column 'lastyear_activity': .* out of "
            "range; features must be finite numbers of magnitude at most 1e",
        ):
            parse(payload)
    text = f"lastmonth_activity,lastyear_activity,number_of_employees\n1,{value},3\n"
    with pytest.raises(RequestError, match="CSV line 2, column 'lastyear_activity': .* out of"):
        rows_from_csv(text, FEATURES, 10)
    at_limit = [[1, 1e100, -1e100]]
    assert parse(at_limit).tolist() == at_limit


def test_row_limit_is_413():
    with pytest.raises(RequestError) as err:
        parse([[1, 2, 3]] * 11, max_rows=10)
    assert err.value.status == 413


def test_csv_body():
    text = (
        "corporation,lastmonth_activity,lastyear_activity,number_of_employees\nx,1,2,\n\ny,4,5,6\n"
    )
    matrix, ids = rows_from_csv(text, FEATURES, 10, ("corporation",))
    assert ids == {"corporation": ["x", "y"]}
    assert matrix.shape == (2, 3) and math.isnan(matrix[0, 2]) and matrix[1, 2] == 6


def test_csv_columns_other_than_the_features_are_ignored_as_in_ingestion():
    text = ",number_of_employees,note,lastyear_activity,lastmonth_activity\n0,6,hi,5,4\n"
    assert rows_from_csv(text, FEATURES, 10)[0].tolist() == [[4.0, 5.0, 6.0]]


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("", "empty CSV body"),
        ("lastmonth_activity,lastyear_activity\n1,2\n", "missing column(s)"),
        (
            "lastmonth_activity,lastyear_activity,number_of_employees\n1,2\n",
            "CSV line 2: expected 3",
        ),
        (
            "lastmonth_activity,lastyear_activity,number_of_employees\n1,2,z\n",
            "CSV line 2, column 'number_of_employees': not a number",
        ),
        ("lastmonth_activity,lastyear_activity,number_of_employees\n1,2,inf\n", "must be finite"),
        ("lastmonth_activity,lastyear_activity,number_of_employees\n", "no rows to predict"),
    ],
)
def test_invalid_csv_names_the_line(text, detail):
    with pytest.raises(RequestError) as err:
        rows_from_csv(text, FEATURES, 10)
    assert detail in err.value.detail


def test_settings_round_trip():
    settings = ApiSettings("d", "m", "f", "t", "data", "y", ["a"], ["id"], 5, 10, "secret")
    assert ApiSettings.from_json(settings.to_json()) == settings


# Class: work per request linear in its size. Each shape is as wide as a 10 MB body allows;
# a quadratic check (a count per name) took minutes on these, a linear one well under 2 s.
# No timing is asserted: the answers must be the short 4xx that names the problem.
TEN_MB = 10 * 1024 * 1024
WIDE = TEN_MB // 12


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ("[{" + ",".join(f'"k{i}":0' for i in range(WIDE)) + "}]", 400, "missing column(s)"),
        ("[{" + ",".join('"k":0' for _ in range(WIDE)) + "}]", 400, "duplicate key(s)"),
        (
            '{"dataframe_split":{"columns":['
            + ",".join(f'"c{i}"' for i in range(WIDE))
            + '],"data":[]}}',
            400,
            "missing column(s)",
        ),
        (
            '{"dataframe_split":{"columns":['
            + ",".join(['"lastmonth_activity"'] * (TEN_MB // 21))
            + '],"data":[]}}',
            400,
            "named more than once: 'lastmonth_activity'",
        ),
        ("[" + ",".join(["{}"] * (TEN_MB // 3)) + "]", 413, "the limit is 100"),
        ("[" + ",".join(["[]"] * (TEN_MB // 3)) + "]", 413, "the limit is 100"),
    ],
    ids=["keys", "repeated-keys", "split-columns", "split-repeated", "objects", "lists"],
)
def test_the_widest_json_bodies_at_the_size_limit_get_a_short_4xx(body, status, detail):
    assert len(body) <= TEN_MB + 64
    with pytest.raises(RequestError) as err:
        parse(parse_json(body.encode()))
    assert (err.value.status, detail in err.value.detail) == (status, True)
    assert len(err.value.detail) < 400


def test_the_widest_csv_header_at_the_size_limit_gets_a_short_400():
    header = ",".join(f"c{i}" for i in range(TEN_MB // 8))
    with pytest.raises(RequestError, match="missing column") as err:
        rows_from_csv(header + "\n", FEATURES, 100)
    assert len(err.value.detail) < 400
    repeated = ",".join(["lastmonth_activity"] * (TEN_MB // 19))
    with pytest.raises(RequestError, match="named more than once: 'lastmonth_activity'$"):
        rows_from_csv(repeated + "\n", FEATURES, 100)


def test_named_shows_five_names_cut_to_40_characters():
    assert named(["a", "b"]) == "'a', 'b'"
    assert named(list("abcdef")) == "'a', 'b', 'c', 'd', 'e' and 1 more"
    assert named(["x" * 41]) == repr("x" * 40)


def test_a_csv_body_with_a_byte_order_mark_is_read_as_ingestion_reads_it():
    text = "\ufefflastmonth_activity,lastyear_activity,number_of_employees\n1,2,3\n"
    assert rows_from_csv(text, FEATURES, 10)[0].tolist() == [[1.0, 2.0, 3.0]]


# Class: an id becomes a join key for late labels and a cell of training data.
RECORD = {"lastmonth_activity": 1, "lastyear_activity": 2, "number_of_employees": 3}


@pytest.mark.parametrize(
    ("value", "kept"),
    [("abc", "abc"), (" abc ", "abc"), (17, "17"), (1.5, "1.5"), (None, None), ("", None),
     ("x" * MAX_ID_CHARS, "x" * MAX_ID_CHARS)],
)  # fmt: skip
def test_ids_are_text_or_numbers_and_empty_is_missing(value, kept):
    payload = [{**RECORD, "corporation": value}]
    assert ids_from_json(payload, ["corporation"]) == {"corporation": [kept]}
    split = {"dataframe_split": {"columns": ["corporation"], "data": [[value]]}}
    assert ids_from_json(split, ["corporation"]) == {"corporation": [kept]}


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (True, "text or a number"),
        ({"a": 1}, "text or a number"),
        (["a"], "text or a number"),
        ("x" * (MAX_ID_CHARS + 1), f"at most {MAX_ID_CHARS} characters"),
    ],
)
def test_an_id_that_cannot_name_a_row_is_a_400_naming_row_and_column(value, detail):
    with pytest.raises(RequestError, match=f"row 1, column 'corporation': .*{detail}"):
        ids_from_json([RECORD, {**RECORD, "corporation": value}], ["corporation"])


def test_a_csv_id_over_the_cap_names_its_line():
    text = "corporation,lastmonth_activity,lastyear_activity,number_of_employees\n"
    ok = text + f"{'x' * MAX_ID_CHARS},1,2,3\n"
    assert rows_from_csv(ok, FEATURES, 10, ("corporation",))[1] == {
        "corporation": ["x" * MAX_ID_CHARS]
    }
    with pytest.raises(RequestError, match="CSV line 2, column 'corporation'"):
        rows_from_csv(text + f"{'x' * (MAX_ID_CHARS + 1)},1,2,3\n", FEATURES, 10, ("corporation",))


class Trickle:
    """A request body arriving in pieces, as read from a slow client."""

    def __init__(self, data: bytes, piece: int = 100) -> None:
        self.data, self.piece, self.at = data, piece, 0

    def read(self, size: int) -> bytes:
        chunk = self.data[self.at : self.at + min(size, self.piece)]
        self.at += len(chunk)
        return chunk


def test_bodies_take_from_the_workers_upload_budget_and_give_it_back():
    from utils.api.serving import UploadBudget, read_body

    budget = UploadBudget(1000)
    first = read_body(Trickle(b"x" * 600), limit=1000, budget=budget)
    assert budget.held == 600
    with pytest.raises(RequestError) as err:
        read_body(Trickle(b"y" * 600), limit=1000, budget=budget)
    assert (err.value.status, err.value.error) == (503, "busy")
    assert budget.held == 600, "the refused body gave back what it took"
    budget.give(len(first))
    assert read_body(Trickle(b"z" * 1000), limit=1000, budget=budget) == b"z" * 1000
    assert budget.held == 1000, "exactly the budget"
    budget.give(1000)
    with pytest.raises(RequestError) as err:
        read_body(Trickle(b"w" * 1001), limit=1000, budget=UploadBudget(5000))
    assert err.value.status == 413
