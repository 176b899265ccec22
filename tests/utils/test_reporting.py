import numpy as np
from PIL import Image

from utils.reporting import plot_confusion_matrix


def test_confusion_matrix_png(tmp_path):
    path = tmp_path / "cm.png"
    plot_confusion_matrix(np.array([[5, 1], [2, 7]]), path, "title")
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] > 300 and image.size[1] > 300
