"""The data contract: which columns a data set has, and reading CSV files that honour it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from utils.errors import PipelineError

if TYPE_CHECKING:
    import pandas as pd

# A CSV's first line is its header, so the data row at index i sits on line i + 2.
_HEADER_LINES = 1


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


def _line_of(df: pd.DataFrame, mask: pd.Series) -> tuple[int, object]:
    position = int(mask.to_numpy().argmax())
    return position + _HEADER_LINES + 1, df.index[position]


def validate_frame(df: pd.DataFrame, schema: DataSchema, source: str) -> pd.DataFrame:
    """Check ``df`` against ``schema``; return its schema columns with numeric features.

    Raises PipelineError naming ``source``, the column and the line of the first bad value.
    """
    import pandas as pd

    missing = [col for col in schema.columns if col not in df.columns]
    if missing:
        raise PipelineError(
            f"{source}: missing required column(s) {', '.join(repr(c) for c in missing)}"
        )
    if df.empty:
        raise PipelineError(f"{source}: has a header but no data rows")
    out = df[schema.columns].copy()
    for col in schema.features:
        if pd.api.types.is_bool_dtype(out[col]) or not pd.api.types.is_numeric_dtype(out[col]):
            numeric = pd.to_numeric(out[col], errors="coerce")
            bad = numeric.isna() & out[col].notna()
            if bad.any():
                line, index = _line_of(out, bad)
                raise PipelineError(
                    f"{source}: column {col!r} has non-numeric value {_shown(out[col][index])} "
                    f"on line {line}"
                )
            out[col] = numeric
    _check_binary_target(out, schema.target, source)
    return out


def _check_binary_target(df: pd.DataFrame, target: str, source: str) -> None:
    import pandas as pd

    values = df[target]
    if values.isna().any():
        line, _ = _line_of(df, values.isna())
        raise PipelineError(f"{source}: column {target!r} (target) is empty on line {line}")
    numeric = pd.to_numeric(values, errors="coerce")
    bad = ~numeric.isin([0, 1])
    if bad.any():
        line, index = _line_of(df, bad)
        raise PipelineError(
            f"{source}: column {target!r} (target) must be binary 0/1, "
            f"found {_shown(values[index])} on line {line}"
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


def read_dataset(path: Path, schema: DataSchema) -> pd.DataFrame:
    """Read one CSV file and validate it; every failure is a PipelineError naming the file."""
    # pandas is imported on use: the automation's quick check must not pay for it.
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: data file not found")
    try:
        df = _read_csv(path)
    except pd.errors.EmptyDataError:
        raise PipelineError(f"{path}: file is empty (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PipelineError(f"{path}: not a readable CSV file ({first_line})") from None
    return validate_frame(df, schema, str(path))
