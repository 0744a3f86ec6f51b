"""Sample grids written during training (evaluation figures live in `plots.py`).

Binary samples are drawn white on black like the authors' published figures; preactivated outputs use a
perceptual colour map with a colour bar so the 0.5 threshold region can be read off.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

GRID = (8, 8)  # code: config.py sample_grid = (8, 8), num_sample = 64
# The two colour maps of every grid and figure; "bad" colours the NaN gaps between images.
BINARY_CMAP = plt.get_cmap("gray").with_extremes(bad="#808080")
PREACTIVATED_CMAP = plt.get_cmap("viridis").with_extremes(bad="white")


def tile(images, grid=GRID):
    """[N, H, W] -> one [rows*H, cols*W] mosaic of the first rows*cols images (1-px gaps)."""
    rows, cols = grid
    images = np.asarray(images)[: rows * cols]
    n, h, w = images.shape
    canvas = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        canvas[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = images[i]
    return canvas


def save_sample_grid(path, images, title):
    fig, ax = plt.subplots(figsize=(4, 4.3), dpi=100)
    ax.imshow(tile(images), cmap=BINARY_CMAP, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def save_preactivated_grid(path, values, title):
    fig, ax = plt.subplots(figsize=(4.6, 4.3), dpi=100)
    im = ax.imshow(
        tile(values), cmap=PREACTIVATED_CMAP, vmin=0.0, vmax=1.0, interpolation="nearest"
    )
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03, ticks=[0, 0.25, 0.5, 0.75, 1])
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
