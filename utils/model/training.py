"""Training: a logistic regression on the configured features, saved with its metadata.

The model is written twice: ``trainedmodel.pkl`` (the course's contract, for people who
unpickle it themselves) and ``trainedmodel.skops``, which is the one this project loads. A
pickle runs whatever code it names when loaded, and a manifest's hash beside it proves nothing
to whoever can rewrite both; skops loads only the types it is told to trust
(``TRUSTED_TYPES`` on top of its own: scikit-learn's estimators, numpy's arrays), so a forged
file is refused instead of run.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from utils import layout
from utils.data.schema import DataSchema
from utils.errors import PipelineError, first_line
from utils.files import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

MODEL_NAME = layout.MODEL
MODEL_FILE = layout.MODEL_SKOPS
# What the project's model holds beyond skops' own trusted types (checked by a test).
TRUSTED_TYPES = ("numpy.dtype",)
METADATA_NAME = layout.MODEL_METADATA
# Libraries whose versions decide whether a pickle loads and predicts the same way elsewhere.
RECORDED_LIBRARIES = ("scikit-learn", "pandas", "numpy", "scipy")


@dataclass(frozen=True)
class ModelParams:
    C: float = 1.0
    max_iter: int = 1000
    solver: str = "lbfgs"
    random_state: int = 0


def build_model(params: ModelParams) -> Pipeline:
    """Median imputation and scaling before the regression, so raw activity counts are usable."""
    # Imported here so that steps which only read configuration stay quick to start.
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            (
                "classifier",
                LogisticRegression(
                    C=params.C,
                    max_iter=params.max_iter,
                    solver=params.solver,
                    random_state=params.random_state,
                ),
            ),
        ]
    )


def uniform_sample(data: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows of ``data`` drawn uniformly without replacement (seeded), in
    their order; all of them when ``max_rows`` is None or not fewer."""
    if not max_rows or len(data) <= max_rows:
        return data
    return data.sample(n=max_rows, random_state=seed).sort_index()


def train_model(data: pd.DataFrame, schema: DataSchema, params: ModelParams) -> Pipeline:
    classes = data[schema.target].unique()
    if len(classes) < 2:
        raise PipelineError(
            f"column {schema.target!r} (target) has only the class {classes.tolist()} "
            "in the training data; a classifier needs both 0 and 1"
        )
    if params.C <= 0:
        raise PipelineError(f"model.C must be positive, got {params.C}")
    model = build_model(params)
    return fit_pipeline(model, data[list(schema.features)], data[schema.target])


def fit_pipeline(model: Pipeline, features: pd.DataFrame, target: pd.Series) -> Pipeline:
    """``model.fit(features, target)``, with the imputer's medians found by partitioning.

    SimpleImputer finds medians by sorting a masked array (7 s of 14 at ten million rows);
    ``np.nanmedian`` finds the same values in linear time. The imputer is then fitted on one
    row holding those medians (NaN where a column has no value, so such a column is dropped
    exactly as a full fit drops it) and the later steps are fitted on its output, as
    Pipeline.fit would fit them.
    """
    import warnings

    import numpy as np
    import pandas as pd

    impute = model.steps[0][1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice": such a median is NaN
        medians = np.nanmedian(features.to_numpy(dtype=np.float64), axis=0)
    impute.fit(pd.DataFrame([medians], columns=features.columns))
    transformed = impute.transform(features)
    for _, step in model.steps[1:-1]:
        transformed = step.fit_transform(transformed)
    model.steps[-1][1].fit(transformed, target)
    return model


def model_metadata(
    schema: DataSchema, params: ModelParams, training_rows: int, training_sha256: str
) -> dict[str, object]:
    return {
        "features": list(schema.features),
        "target": schema.target,
        "id_columns": list(schema.id_columns),
        "params": asdict(params),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_rows": training_rows,
        "training_data_sha256": training_sha256,
        "library_versions": {name: version(name) for name in RECORDED_LIBRARIES},
    }


def save_model(model: Pipeline, metadata: dict[str, object], model_dir: Path) -> Path:
    """Write the model (skops, and the pickle of the course's contract) and its metadata, each
    atomically; return the skops file's path."""
    import skops.io

    model_dir = Path(model_dir)
    atomic_write_bytes(model_dir / MODEL_NAME, pickle.dumps(model, pickle.HIGHEST_PROTOCOL))
    model_path = model_dir / MODEL_FILE
    atomic_write_bytes(model_path, reproducible_zip(skops.io.dumps(model)))
    write_metadata(metadata, model_dir)
    return model_path


def reproducible_zip(data: bytes) -> bytes:
    """skops' archive, written the same way whenever the same model is saved: skops names
    each array and object by its memory address (``"__id__"`` and ``"<id>.npy"``) and stamps
    each entry with the time of writing, so the same model gave other bytes on every run and
    deployment, which keeps a release whose files are unchanged, redeployed an identical
    model. Ids become their order of appearance; times become 1980-01-01."""
    import io
    import re
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema = source.read("schema.json").decode("utf-8")
        ids: dict[str, str] = {}
        for found in re.finditer(r'"__id__": (\d+)|"file": "(\d+)\.npy"', schema):
            ids.setdefault(found.group(1) or found.group(2), str(len(ids) + 1))

        def renamed(match: re.Match) -> str:
            if match.group(1):
                return f'"__id__": {ids[match.group(1)]}'
            return f'"file": "{ids[match.group(2)]}.npy"'

        schema = re.sub(r'"__id__": (\d+)|"file": "(\d+)\.npy"', renamed, schema)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as target:
            entries = source.infolist()
            names = {e.filename: f"{ids.get(e.filename[:-4], e.filename[:-4])}.npy"
                     if e.filename.endswith(".npy") else e.filename for e in entries}  # fmt: skip
            for entry in sorted(entries, key=lambda e: names[e.filename]):
                stable = zipfile.ZipInfo(names[entry.filename], date_time=(1980, 1, 1, 0, 0, 0))
                stable.compress_type = entry.compress_type
                stable.external_attr = entry.external_attr
                content = schema.encode() if entry.filename == "schema.json" else source.read(entry)
                target.writestr(stable, content)
    return out.getvalue()


def write_metadata(metadata: dict[str, object], model_dir: Path) -> None:
    atomic_write_text(Path(model_dir) / METADATA_NAME, json.dumps(metadata, indent=2) + "\n")


def read_metadata(model_dir: Path) -> dict[str, object]:
    path = Path(model_dir) / METADATA_NAME
    if not path.is_file():
        raise PipelineError(f"{path}: model metadata not found; run model_training first")
    return json.loads(path.read_text(encoding="utf-8"))


def load_model(path: Path) -> Pipeline:
    """A model file this project wrote (skops), loaded without running code: a file holding
    any type beyond skops' trusted ones and TRUSTED_TYPES is refused, naming the types.
    Callers verify hashes first where files travel."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: model file not found; run model_training first")
    try:
        model = skops.io.load(path, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as err:
        raise PipelineError(f"{path}: holds types this project does not load ({err})") from None
    except Exception as err:  # noqa: BLE001 - a damaged zip, a missing part, a bad schema
        raise PipelineError(
            f"{path}: not a loadable model file ({type(err).__name__}: {first_line(err)})"
        ) from None
    if not hasattr(model, "predict"):
        raise PipelineError(f"{path}: the file holds a {type(model).__name__}, not a model")
    return model
