"""The data contract: which columns a data set has, and reading CSV files that honour it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from utils.data.headers import column_names, parquet_columns
from utils.errors import PipelineError, first_line
from utils.files import is_parquet

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

# A CSV's first line is its header, so the data row at index i sits on line i + 2.
_HEADER_LINES = 1
NO_ROWS_CSV = "has a header but no data rows"
NO_ROWS_PARQUET = "has no data rows"
# Features are finite numbers of at most this magnitude: far beyond any measurement, and a
# feature of 1e308 (in float range) squares to infinity in the scaler's variance, so training
# failed on it at every run ("Input X contains NaN"). The API, ingestion on both engines,
# batch scoring and the labelled traffic hold the same bound.
MAX_FEATURE_MAGNITUDE = 1e100
OUT_OF_RANGE = f"features must be finite numbers of magnitude at most {MAX_FEATURE_MAGNITUDE:g}"

# pandas' default missing-value markers (pandas._libs.parsers.STR_NA_VALUES): what the data
# contract reads as a missing value, whichever engine reads the file.
NA_MARKERS = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip


@dataclass(frozen=True)
class DataSchema:
    target: str
    features: tuple[str, ...]
    id_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.features:
            raise PipelineError("data.features: at least one feature column is required")
        overlap = {self.target} & set(self.features) | set(self.id_columns) & set(self.features)
        if overlap:
            raise PipelineError(
                f"data.features: {sorted(overlap)} cannot be both a feature and the target or an id"
            )

    @property
    def columns(self) -> list[str]:
        """Every column the pipeline keeps, in a fixed order: ids, features, target."""
        return [*self.id_columns, *self.features, self.target]


def _shown(value: object) -> str:
    """repr of a cell value as the user wrote it (numpy scalars as plain numbers)."""
    return repr(value.item() if hasattr(value, "item") else value)


def row_name(position: int, parquet: bool = False) -> str:
    """The data row at ``position`` (from 0) as its file's reader counts: a CSV's line (the
    header is line 1) or a Parquet file's row (from 1)."""
    return f"row {position + 1}" if parquet else f"line {position + _HEADER_LINES + 1}"


def where_row(position: int, parquet: bool = False) -> str:
    """``row_name`` in a sentence: "on line 7", "in row 6"."""
    return f"{'in' if parquet else 'on'} {row_name(position, parquet)}"


def _line_of(df: pd.DataFrame, mask: pd.Series, parquet: bool) -> tuple[str, object]:
    position = int(mask.to_numpy().argmax())
    return where_row(position, parquet), df.index[position]


def validate_frame(
    df: pd.DataFrame, schema: DataSchema, source: str, parquet: bool = False
) -> pd.DataFrame:
    """Check ``df`` against ``schema``; return its schema columns with numeric features.

    Raises PipelineError naming ``source``, the column and the line (a Parquet file's row)
    of the first bad value.
    """
    import pandas as pd

    missing = [col for col in schema.columns if col not in df.columns]
    if missing:
        raise PipelineError(
            f"{source}: missing required column(s) {', '.join(repr(c) for c in missing)}"
        )
    if df.empty:
        raise PipelineError(f"{source}: {NO_ROWS_PARQUET if parquet else NO_ROWS_CSV}")
    out = df[schema.columns].copy()
    for col in schema.features:
        if pd.api.types.is_bool_dtype(out[col]) or not pd.api.types.is_numeric_dtype(out[col]):
            numeric = pd.to_numeric(out[col], errors="coerce")
            bad = numeric.isna() & out[col].notna()
            if bad.any():
                line, index = _line_of(out, bad, parquet)
                raise PipelineError(
                    f"{source}: column {col!r} has non-numeric value {_shown(out[col][index])} "
                    f"{line}"
                )
            out[col] = numeric
        infinite = out[col].isin([math.inf, -math.inf])
        if infinite.any():
            line, index = _line_of(out, infinite, parquet)
            raise PipelineError(
                f"{source}: column {col!r} has infinite value {_shown(out[col][index])} {line}; "
                f"features must be finite numbers"
            )
        too_large = out[col].abs() > MAX_FEATURE_MAGNITUDE
        if too_large.any():
            line, index = _line_of(out, too_large, parquet)
            raise PipelineError(
                f"{source}: column {col!r} has out-of-range value {_shown(out[col][index])} "
                f"{line}; {OUT_OF_RANGE}"
            )
    _check_binary_target(out, schema.target, source, parquet)
    return out


def _check_binary_target(df: pd.DataFrame, target: str, source: str, parquet: bool) -> None:
    import pandas as pd

    values = df[target]
    if values.isna().any():
        line, _ = _line_of(df, values.isna(), parquet)
        raise PipelineError(f"{source}: column {target!r} (target) is empty {line}")
    numeric = pd.to_numeric(values, errors="coerce")
    bad = ~numeric.isin([0, 1])
    if bad.any():
        line, index = _line_of(df, bad, parquet)
        raise PipelineError(
            f"{source}: column {target!r} (target) must be binary 0/1, "
            f"found {_shown(values[index])} {line}"
        )
    df[target] = numeric.astype("int64")


def _read_csv(path: Path) -> pd.DataFrame:
    """pyarrow's multi-threaded parser; pandas' own one where it refuses the file, so that a
    bad file gets pandas' message (which names the line) or is read the way pandas reads it."""
    import pandas as pd

    if path.stat().st_size == 0:
        raise pd.errors.EmptyDataError("No columns to parse from file")
    try:
        return pd.read_csv(path, engine="pyarrow")
    except Exception:  # pyarrow's ArrowInvalid and friends: let pandas judge the file
        return pd.read_csv(path)


def not_utf8(path: Path) -> str | None:
    """Where ``path`` stops being UTF-8 text: its line and byte (None if it is UTF-8)."""
    import codecs

    with open(path, "rb") as handle:
        if handle.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return "is UTF-16 text; save it as UTF-8"
        handle.seek(0)
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                return (
                    f"line {number} is not UTF-8 text (byte 0x{line[err.start]:02x}, as Latin-1 "
                    f"or Windows-1252 files have); save the file as UTF-8"
                )
    return None


def _structure_problem(path: Path) -> str | None:
    """The first line that is not UTF-8 or whose field count differs from the header's.

    pandas reads a row with more fields than the header by taking the first column as an
    index, which shifts every value one column over, so the row count is checked first.
    """
    import csv

    from utils.data.headers import wide_fields

    encoding = not_utf8(path)
    if encoding:
        return encoding
    with wide_fields():
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, strict=True)
            try:
                header = next(reader, None) or []
                for row in reader:
                    if row and len(row) != len(header):
                        return (
                            f"line {reader.line_num} has {len(row)} fields, the header has "
                            f"{len(header)}"
                        )
            except csv.Error as err:
                return f"not a readable CSV file (line {reader.line_num}: {err})"
    return None


def _read_with_pandas_parser(path: Path, schema: DataSchema) -> pd.DataFrame:
    """Read one CSV file with pandas and validate it; failures name the file, line, column."""
    # pandas is imported on use: the automation's quick check must not pay for it.
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: data file not found")
    problem = _structure_problem(path)
    if problem:
        raise PipelineError(f"{path}: {problem}")
    try:
        df = _read_csv(path)
    except pd.errors.EmptyDataError:
        raise PipelineError(f"{path}: file is empty (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise PipelineError(f"{path}: not a readable CSV file ({first_line(err)})") from None
    return validate_frame(df, schema, str(path))


def _column_types(schema: DataSchema, number: pl.DataType) -> dict[str, pl.DataType]:
    """Ids as text; features and target as ``number`` (Int64 or Float64)."""
    import polars as pl

    types: dict[str, pl.DataType] = {col: pl.String() for col in schema.id_columns}
    types.update({col: number for col in (*schema.features, schema.target)})
    return types


def _as_decimals(schema: DataSchema) -> list[pl.Expr]:
    """Schema columns in schema order, features as floats: NaN is missing and -0.0 is 0.0, so
    that equal values compare (and hash) equal across files."""
    import polars as pl

    def decimal(col: str) -> pl.Expr:
        value = pl.col(col).cast(pl.Float64).fill_nan(None)
        # Polars simplifies "+ 0.0" away, so -0.0 is replaced explicitly.
        return pl.when(value == 0.0).then(pl.lit(0.0)).otherwise(value).alias(col)

    return [
        *(pl.col(col).cast(pl.String) for col in schema.id_columns),
        *(decimal(col) for col in schema.features),
        pl.col(schema.target),
    ]


def _scan(path: Path, schema: DataSchema, decimals: bool) -> pl.LazyFrame:
    """Whole numbers parse a third faster as integers than as floats, and need no clean-up."""
    import polars as pl

    number = pl.Float64() if decimals else pl.Int64()
    plan = pl.scan_csv(path, schema_overrides=_column_types(schema, number))
    return plan.select(_as_decimals(schema) if decimals else schema.columns)


def _collect_or_none(plan: pl.LazyFrame) -> pl.DataFrame | None:
    import polars as pl

    try:
        return plan.collect()
    except (Exception, pl.exceptions.PanicException):  # noqa: BLE001 - judged again after
        return None


def _checked_target(frame: pl.DataFrame | None, schema: DataSchema) -> pl.DataFrame | None:
    """``frame`` with an integer target if it has rows, finite features and a 0/1 target."""
    import polars as pl

    if frame is None or frame.height == 0:
        return None
    decimal = [col for col in schema.features if frame.schema[col].is_float()]
    # (an infinity is over the bound too)
    if (
        decimal
        and frame.select(
            pl.any_horizontal((pl.col(decimal).abs() > MAX_FEATURE_MAGNITUDE).any())
        ).item()
    ):
        return None
    target = frame.get_column(schema.target).cast(pl.Float64)
    if target.null_count() or not target.is_in([0.0, 1.0]).all():
        return None
    return frame.with_columns(pl.col(schema.target).cast(pl.Int64))


def _read_with_pandas(path: Path, schema: DataSchema) -> pl.DataFrame:
    """Raises the precise message (file, line, column), or reads the file as pandas would."""
    return _from_validated(_read_with_pandas_parser(Path(path), schema), schema)


def _from_validated(checked: pd.DataFrame, schema: DataSchema) -> pl.DataFrame:
    import polars as pl

    for col in schema.id_columns:
        checked[col] = checked[col].astype("string")
    frame = pl.from_pandas(checked).select(_as_decimals(schema))
    return frame.with_columns(pl.col(schema.target).cast(pl.Int64))


def _read_parquet(path: Path, schema: DataSchema) -> pl.DataFrame:
    """A Parquet file as read_file reads a CSV: its typed columns taken as they are when they
    honour the contract (features numbers, the target 0/1), else judged by validate_frame,
    which names the column and the row, or reads numbers stored as text as pandas would."""
    import polars as pl

    present = set(parquet_columns(path))
    missing = [c for c in schema.columns if c not in present]
    if missing:
        raise PipelineError(
            f"{path}: missing required column(s) {', '.join(repr(c) for c in missing)}"
        )
    try:
        frame = pl.read_parquet(path, columns=schema.columns)
    except (Exception, pl.exceptions.PanicException) as err:  # noqa: BLE001 - any reader failure
        raise PipelineError(f"{path}: not a readable Parquet file ({first_line(err)})") from None
    types = [frame.schema[c] for c in (*schema.features, schema.target)]
    if all(t.is_numeric() or t == pl.Boolean for t in types):
        whole = all(
            frame.schema[c].is_integer() or frame.schema[c] == pl.Boolean for c in schema.features
        )
        plan = frame.with_columns(pl.col(c).cast(pl.String) for c in schema.id_columns)
        typed = (
            plan.with_columns(pl.col(c).cast(pl.Int64) for c in schema.features)
            if whole
            else plan.select(_as_decimals(schema))
        )
        checked = _checked_target(typed.select(schema.columns), schema)
        if checked is not None:
            return checked
    return _from_validated(
        validate_frame(frame.to_pandas(), schema, str(path), parquet=True), schema
    )


def read_file(path: Path, schema: DataSchema) -> pl.DataFrame:
    """Read and validate one file; every failure is a PipelineError naming the file.

    Features come as integers when the file holds whole numbers only, else as floats. A file
    Polars refuses, or whose values break the contract, is read again by pandas, which either
    names the file, line and column of the problem or reads it the way pandas reads it.
    """
    path = Path(path)
    if is_parquet(path):
        return _read_parquet(path, schema)
    for decimals in (False, True):
        frame = _checked_target(_collect_or_none(_scan(path, schema, decimals)), schema)
        if frame is not None:
            return frame
    return _read_with_pandas(path, schema)


def same_feature_types(frames: list[pl.DataFrame], schema: DataSchema) -> list[pl.DataFrame]:
    """``frames`` with each feature integer in all of them or decimal in all of them."""
    import polars as pl

    decimal = [
        col for col in schema.features if any(frame.schema[col] != pl.Int64 for frame in frames)
    ]
    if not decimal:
        return frames
    cast = [pl.col(col).cast(pl.Float64) for col in decimal]
    return [frame.with_columns(cast) for frame in frames]


def read_files(files: list[Path], schema: DataSchema) -> list[pl.DataFrame]:
    """Read and validate ``files`` (see read_file), with the same column types in all.

    One file at a time, each parsed on every core: as fast as parsing all at once, and the
    parser's buffers of one file are reused for the next instead of adding up.
    """
    return same_feature_types([read_file(Path(path), schema) for path in files], schema)


def _to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    """Column by column, each Polars column freed once converted: one column's copy at a time
    on top of the data, not a second copy of all of it."""
    import pandas as pd

    columns = {}
    for name in list(frame.columns):
        columns[name] = frame.drop_in_place(name).to_pandas()
    return pd.DataFrame(columns, copy=False)


def read_dataset(path: Path, schema: DataSchema, ids: bool = True) -> pd.DataFrame:
    """Read one CSV file and validate it; every failure is a PipelineError naming the file.

    Schema columns only, in schema order: ids as text, features as integers when the file
    holds whole numbers only and none is missing (else floats, NaN when missing), the target
    as 0/1 integers. Without ``ids`` the id columns must be present but
    are not parsed (training and scoring do not use them).
    """
    wanted = schema
    if not ids and set(schema.id_columns) <= set(column_names(Path(path))):
        wanted = DataSchema(schema.target, schema.features)
    return _to_pandas(read_files([Path(path)], wanted)[0])


def read_feature_columns(
    path: Path, features: list[str], id_columns: tuple[str, ...] | list[str]
) -> pl.DataFrame:
    """The features (as floats, missing markers as null) and the id columns the file has (as
    text) of a CSV or Parquet file that need not have the target: data to score.
    PipelineError naming the file, line (a Parquet file's row) and column of a missing
    feature, a value that is not a number, or one that breaks the contract (infinite, beyond
    MAX_FEATURE_MAGNITUDE): scikit-learn's own message would name none of them."""
    import polars as pl

    parquet = is_parquet(path)
    header = parquet_columns(Path(path)) if parquet else column_names(Path(path))
    missing = [c for c in features if c not in header]
    if missing:
        raise PipelineError(f"{path}: no column {missing[0]!r} (a feature of the deployed model)")
    ids = [c for c in id_columns if c in header]

    def number(column: str) -> pl.Expr:
        text = pl.col(column).str.strip_chars()
        missing = pl.col(column).is_in(list(NA_MARKERS)) | (text == "")
        value = pl.when(missing).then(None).otherwise(text)
        return value.cast(pl.Float64, strict=False).alias(column)

    try:
        if parquet:
            # Numbers stay numbers (NaN is missing); numbers stored as text are read as in a CSV.
            raw = pl.read_parquet(path, columns=[*ids, *features])
            numeric = {c for c in features if raw.schema[c].is_numeric()}
            numeric |= {c for c in features if raw.schema[c] == pl.Boolean}
            frame = raw.select(
                *(pl.col(c).cast(pl.String) for c in ids),
                *(
                    pl.col(c).cast(pl.Float64).fill_nan(None) if c in numeric else number(c)
                    for c in features
                ),
            )
        else:
            # As text first: the markers are missing in the features only (an id is as written).
            raw = pl.read_csv(path, columns=[*ids, *features], infer_schema=False)
            frame = raw.select(*ids, *(number(c) for c in features))
    except (pl.exceptions.PolarsError, ValueError) as err:
        kind = "Parquet" if parquet else "CSV"
        raise PipelineError(f"{path}: not a readable {kind} file ({first_line(err)})") from None
    for column in features:
        _check_feature(raw.get_column(column), frame.get_column(column), path, parquet)
    return frame


def _check_feature(given: pl.Series, parsed: pl.Series, path: Path, parquet: bool) -> None:
    """Every value of one feature column a number within the contract, or PipelineError."""
    import polars as pl

    column = given.name
    if given.dtype == pl.String:
        text = given.str.strip_chars()
        absent = given.is_null() | given.is_in(list(NA_MARKERS)) | (text == "")
        not_number = (parsed.is_null() & ~absent).fill_null(False)
        if not_number.any():
            row = int(not_number.arg_max())
            raise PipelineError(
                f"{path}: column {column!r} has non-numeric value {given[row]!r} "
                f"{where_row(row, parquet)}"
            )
    beyond = (parsed.abs() > MAX_FEATURE_MAGNITUDE).fill_null(False)
    if beyond.any():
        row = int(beyond.arg_max())
        value = parsed[row]
        kind = "infinite" if math.isinf(value) else "out-of-range"
        raise PipelineError(
            f"{path}: column {column!r} has {kind} value {value!r} {where_row(row, parquet)}; "
            f"{OUT_OF_RANGE}"
        )
