"""Generated benchmark data sets, made once per size and kept between runs."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # a script run from anywhere; the project is not installed
    sys.path.insert(0, str(ROOT))

from utils.data.demo import generate_files, write_files  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "risk-bench"
# Peers' virtualenvs (Evidently, NannyML), built once per machine, never the project's.
PEERS = Path(os.environ.get("RISK_BENCH_CACHE", Path.home() / ".cache" / "risk-monitoring"))


def peer_python(name: str, requirements: list[str]) -> Path:
    """The Python of a peer's own virtualenv under PEERS/venv-<name>, built the first time."""
    venv = PEERS / f"venv-{name}"
    python = venv / "bin" / "python"
    done = venv / ".complete"
    if not done.exists():
        print(f"creating the {name} virtualenv in {venv} (once)...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-qq", *requirements], check=True)
        done.touch()
    return python


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
