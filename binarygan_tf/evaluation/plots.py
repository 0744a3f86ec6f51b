"""The evaluation figures: the paper's Fig. 3-7 panels and the Fig. 4 histogram, for our models.

Binary images are drawn white on black like the authors' figures; preactivated outputs with a
perceptual colour map and a colour bar, so the 0.5 threshold can be read off. The histogram
uses a log density axis and marks the end-bin masses, as the paper's Fig. 4 does.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from binarygan_tf import metrics  # noqa: E402
from binarygan_tf.training import run_directory  # noqa: E402
from binarygan_tf.training.sample_grids import BINARY_CMAP as GRAY  # noqa: E402
from binarygan_tf.training.sample_grids import PREACTIVATED_CMAP as VIRIDIS  # noqa: E402
from binarygan_tf.training.sample_grids import tile  # noqa: E402

COLOURS = (
    "#1f2a6b",
    "#a02020",
    "#808080",
    "#2a8a3a",
    "#c07a00",
    "#6a3d9a",
    "#1f78b4",
    "#e31a1c",
    "#33a02c",
    "#ff7f00",
    "#b15928",
)


def _grid_axis(ax, images, title, colour_map=False):
    image = ax.imshow(
        tile(np.asarray(images)[..., 0] if np.ndim(images) == 4 else images),
        cmap=VIRIDIS if colour_map else GRAY,
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
    )
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return image


def _save(fig, path):
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def sample_and_preactivation_grids(path, samples, preactivated, title):
    """Paper Fig. 3 (a|b): 8x8 binary samples beside their colour-mapped preactivated outputs."""
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 4.4))
    _grid_axis(axes[0], samples, "samples")
    image = _grid_axis(axes[1], preactivated, "preactivated outputs", colour_map=True)
    fig.colorbar(image, ax=axes[1], fraction=0.046, pad=0.03, ticks=[0, 0.25, 0.5, 0.75, 1])
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def real_valued_variants(path, raw, thresholded, sampled, title):
    """Paper Fig. 5 (a-c): raw sigmoid outputs, hard-thresholded at 0.5, Bernoulli-sampled."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    image = _grid_axis(axes[0], raw, "(a) raw outputs", colour_map=True)
    fig.colorbar(image, ax=axes[0], fraction=0.046, pad=0.03, ticks=[0, 0.5, 1])
    _grid_axis(axes[1], thresholded, "(b) hard thresholding at 0.5")
    _grid_axis(axes[2], sampled, "(c) Bernoulli sampling")
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def samples_side_by_side(path, grids, title):
    """Several models' 8x8 sample grids in one row: `grids` is [(label, images)]."""
    n = len(grids)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 4.0), squeeze=False)
    for ax, (label, images) in zip(axes[0], grids, strict=True):
        _grid_axis(ax, images, label)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


STRAY_RGB = (1.0, 0.2, 0.2)  # stray pixels in red among the white strokes


def stray_pixels(path, grids, title, columns=2):
    """Sample grids with their stray pixels (metrics.on_and_stray_pixels) in red: the paper's
    Exp. IV "artifacts", as a reader would point at them. `grids` is [(label, images)], laid
    out `columns` to a row (a pair to compare per row); each panel's title has the share over
    all of its images, the grid shows the first 64."""
    rows = -(-len(grids) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 4.2 * rows), squeeze=False)
    for ax in axes.flat[len(grids) :]:
        ax.axis("off")
    # axes.flat can hold more panels than grids (the spare ones are blanked above)
    for ax, (label, images) in zip(axes.flat, grids, strict=False):
        on, stray = metrics.on_and_stray_pixels(images)
        share = stray.sum() / max(on.sum(), 1)  # metrics.stray_pixel_share, from the masks
        shown = tile(on.astype(np.float32))  # 0 / 1, NaN in the gaps between images
        rgb = np.repeat(np.nan_to_num(shown, nan=0.5)[..., None], 3, axis=-1)  # gaps grey
        rgb[np.nan_to_num(tile(stray.astype(np.float32))) > 0] = STRAY_RGB
        ax.imshow(rgb, interpolation="nearest")
        ax.set_title(f"{label}\nstray pixels {share:.3f}", fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def preactivation_histograms(path, series, title="Histogram of preactivated outputs"):
    """Paper Fig. 4: `series` is [(label, values)], overlaid as step histograms, log density."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for i, (label, values) in enumerate(series):
        edges, shares = metrics.preactivation_histogram(values)
        colour = COLOURS[i % len(COLOURS)]
        ax.stairs(np.maximum(shares, 1e-7), edges, color=colour, linewidth=1.1, label=label)
        for x, y, ha in ((edges[0], shares[0], "left"), (edges[-1], shares[-1], "right")):
            if y > 0:
                ax.annotate(
                    f"{y:.3g}",
                    (x, y),
                    xytext=(4 if ha == "left" else -4, 2 + 9 * i),
                    textcoords="offset points",
                    color=colour,
                    fontsize=8,
                    ha=ha,
                )
    ax.set_yscale("log")
    ax.set_ylim(1e-5, 1.5)
    ax.set_xlim(-0.02, 1.02)
    ax.axvline(0.5, color="black", linewidth=0.5, linestyle=":")
    ax.set_xlabel("preactivated value")
    ax.set_ylabel(f"share of values per bin ({metrics.HISTOGRAM_BINS} bins)")
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, loc="upper center")
    return _save(fig, path)


# A loss curve holds one of two critic losses (run_directory.LossCurve.quantity). The page
# compares the loss of each generator step's last critic update, before it is applied (ours,
# and the authors' step.log); their batch.log's loss, fetched after all of the step's critic
# updates, is the only curve of their runs published before step.log was kept. Such a curve
# is still drawn, it being all there is of those runs, but dotted, with its legend saying
# what it is and a note under the figure, so it is never read as the other quantity.
AFTER_UPDATES_LABEL = "after the critic updates"
AFTER_UPDATES_NOTE = (
    "Dotted: the authors' batch.log loss, fetched after all of a generator step's critic "
    "updates (their step.log, which has the loss before the last critic update as the other "
    "lines, was not kept for these runs); not the same quantity as the other lines."
)


def curve_style(theirs, quantity):
    """(line style, legend suffix) of a loss curve: ours dashed, theirs solid, and the
    after-critic-updates quantity dotted and named (AFTER_UPDATES_LABEL)."""
    if quantity == run_directory.CRITIC_LOSS_AFTER_UPDATES:
        return ":", f" ({AFTER_UPDATES_LABEL})"
    return ("-" if theirs else "--"), ""


def loss_curves(path, panels, title):
    """One panel per configuration: the critic's negated loss (WGAN: its estimate of the
    Wasserstein distance; WGAN-GP: minus the penalty too) per epoch, ours beside theirs.
    `panels` is [(title, [(label, steps, values, theirs, quantity)])], `quantity` a
    run_directory.CRITIC_LOSS_* name (curve_style draws the two apart); log scale, because
    the first epoch's 100-critic warm-up starts ten times higher than where training settles."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False)
    after = False
    for ax, (panel_title, curves) in zip(axes[0], panels, strict=True):
        counts = {False: 0, True: 0}  # ours in blues and greens, theirs in reds and oranges
        for label, steps, values, theirs, quantity in curves:
            colour = COLOURS[((0, 6, 3, 5), (1, 4, 9, 10))[theirs][counts[theirs] % 4]]
            counts[theirs] += 1
            style, suffix = curve_style(theirs, quantity)
            after = after or bool(suffix)
            values = np.asarray(values, dtype=float)
            ax.plot(
                steps,
                np.where(values > 0, values, np.nan),
                color=colour,
                linewidth=1.6 if theirs else 1.1,
                linestyle=style,
                marker=".",
                label=label + suffix,
            )
        ax.set_yscale("log")
        ax.set_xlabel("generator step")
        ax.set_title(panel_title, fontsize=10)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("critic loss, negated (epoch mean)")
    fig.suptitle(title, fontsize=11)
    if after:
        fig.text(0.01, -0.02, AFTER_UPDATES_NOTE, fontsize=8, ha="left", va="top", wrap=True)
    return _save(fig, path)
