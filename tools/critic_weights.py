"""How a weight-clipped critic ends: per layer, the share of its kernel at the clip and its
mean |w|, for our runs and the authors' side by side.

Why: under WGAN our MLP DBN runs and the authors' reach different FDs (docs/authors_code.md,
"Found by running their code"). Every step agrees from the same state, so what differs is
where a run goes, and the critic's final weights show which regime it ended in (weights
pinned at the clip, or well inside it). Reads the latest checkpoint of each run directory:
ours through train_lib.restore_trainer, theirs by their variable names
(authors/variable_map.py).

    python tools/critic_weights.py runs/repro/paper/exp3_mlp_dbn_wgan runs/authors_mlp_dbn_wgan
"""

import os

from absl import app

from binarygan_tf import startup

# "At the clip": |w| >= 0.99 * clip (one RMSProp step, ~lr = 1e-4, is 1% of the clip 0.01);
# "near": within 10% of it.
AT, NEAR = 0.99, 0.9


def _kernels_ours(run_dir):
    from binarygan_tf.training import train_lib
    from binarygan_tf.training.config import TrainConfig

    trainer = train_lib.restore_trainer(TrainConfig.load(run_dir))
    return [
        (layer.name, layer.kernel.numpy())
        for layer in trainer.discriminator.layers
        if getattr(layer, "kernel", None) is not None
    ]


def _kernels_theirs(run_dir, stored):
    import tensorflow as tf

    from binarygan_tf.authors import presets, variable_map
    from binarygan_tf.training.run_directory import CHECKPOINT_DIR

    setup = presets.Setup(**stored["authors_setup"])
    reader = tf.train.load_checkpoint(os.path.join(run_dir, CHECKPOINT_DIR))
    names = variable_map.name_map("D", setup.arch, setup.d_batch_norm)
    return [
        # their model's class name is the root scope of their graph
        (layer, reader.get_tensor(f"{setup.model_class}/{theirs}"))
        for theirs, (layer, weight) in names.items()
        if weight == "kernel"
    ]


def describe(run_dir, clip):
    import json

    import numpy as np

    from binarygan_tf.training.run_directory import CONFIG_FILE

    with open(os.path.join(run_dir, CONFIG_FILE)) as f:
        stored = json.load(f)
    theirs = "authors_setup" in stored
    kernels = _kernels_theirs(run_dir, stored) if theirs else _kernels_ours(run_dir)
    cells = []
    for name, k in kernels:
        cell = (
            f"{name} {np.mean(np.abs(k) >= AT * clip):.2f} at / "
            f"{np.mean(np.abs(k) >= NEAR * clip):.2f} near the clip, mean |w| {np.abs(k).mean():.4f}"
        )
        # A layer collapsed onto a few values (clipping's pathology): say which, how many each.
        values, counts = np.unique(np.round(k, 4), return_counts=True)
        if len(values) <= 3:
            cell += (
                " ("
                + ", ".join(f"{c} at {v:+.4f}" for v, c in zip(values, counts, strict=True))
                + ")"
            )
        cells.append(cell)
    return f"{run_dir} ({'authors' if theirs else 'ours'}): " + "; ".join(cells)


def main(argv):
    from binarygan_tf.model import objectives

    if len(argv) < 2:
        raise app.UsageError("pass one or more run directories")
    for run_dir in argv[1:]:
        print(describe(run_dir, objectives.CLIP_VALUE))


if __name__ == "__main__":
    startup.quiet_tensorflow_import()
    app.run(main)
