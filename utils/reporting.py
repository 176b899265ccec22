"""Figures for people: the confusion matrix of the deployed model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from utils.files import atomic_write

CLASS_LABELS = ("0 (stayed)", "1 (exited)")


def plot_confusion_matrix(matrix: np.ndarray, path: Path, title: str) -> None:
    """Save a labelled confusion matrix with counts in each cell as a PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=120)
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(2), labels=CLASS_LABELS)
    ax.set_yticks(range(2), labels=CLASS_LABELS)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), count in np.ndenumerate(matrix):
        ax.text(
            col,
            row,
            f"{count:,}",
            ha="center",
            va="center",
            color="white" if count > threshold else "black",
            fontsize=13,
        )
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
