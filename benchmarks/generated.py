"""Generated benchmark data sets, made once per size and kept between runs."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # a script run from anywhere; the project is not installed
    sys.path.insert(0, str(ROOT))

from utils.demo_data import generate_files, write_files  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "risk-bench"


def dataset(
    rows: int, files: int, cache: Path = CACHE, seed: int = 0, duplicate_fraction: float = 0.05
) -> Path:
    """A folder of ``files`` CSV files, ``rows`` rows in all, in the course's schema."""
    folder = cache / f"rows{rows}-files{files}"
    if (seed, duplicate_fraction) != (0, 0.05):
        folder = folder.with_name(f"{folder.name}-seed{seed}-dup{duplicate_fraction}")
    if not (folder / ".complete").exists():
        frames = generate_files(rows, files, seed=seed, duplicate_fraction=duplicate_fraction)
        write_files(frames, folder, "part")
        (folder / ".complete").touch()
    return folder
