"""The run's callbacks: their order, TensorBoard on the generator-step axis, the training log,
step checkpoints and resuming from one mid-epoch, and the progress output.

The end-to-end tests train tiny runs (8 generator steps per epoch, see test_train_lib) with
scalars and checkpoints every 3 steps and grids every 5, so every schedule has points inside
epochs, on an epoch boundary (8, 16) and off it.
"""

import contextlib
import csv
import glob
import io
import os
import signal
import time
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.util import event_pb2

from binarygan_tf.errors import TrainingFailed
from binarygan_tf.model import objectives
from binarygan_tf.training import callbacks as cbs
from binarygan_tf.training import train_lib
from tests.helpers import STEPS_PER_EPOCH, tiny_config

EVERY = 3  # scalars_every and checkpoint_every of the end-to-end runs
SCALAR_STEPS = [3, 6, 8, 9, 12, 15, 16]  # multiples of 3, plus the epoch ends 8 and 16
GRID_STEPS = [0, 5, 8, 10, 15, 16]  # step 0, multiples of sample_every=5, epoch ends


def run_config(tmp_path, **overrides):
    """tiny_config plus TensorBoard and the settings this module is about (set as attributes,
    so the helper works whether or not TrainConfig takes them as constructor arguments)."""
    extra = dict(checkpoint_every=EVERY, scalars_every=EVERY)
    extra.update({k: overrides.pop(k) for k in list(overrides) if k in extra})
    config = tiny_config(tmp_path, **{"tensorboard": True, **overrides})
    for name, value in extra.items():
        setattr(config, name, value)
    return config


def read_events(log_dir, since=None):
    """{tag: [(step, value)]} of the scalars and {tag: [(step, (width, height))]} of the
    images in the events files of `log_dir` (those written after time `since`), by step."""
    scalars, images = {}, {}
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(record.numpy())
            if since is not None and event.wall_time < since:
                continue
            for value in event.summary.value:
                array = tf.make_ndarray(value.tensor)
                if array.dtype == object:  # an image: [width, height, png, ...]
                    images.setdefault(value.tag, []).append(
                        (event.step, (int(array[0]), int(array[1])))
                    )
                else:
                    scalars.setdefault(value.tag, []).append((event.step, float(array)))
    for series in (*scalars.values(), *images.values()):
        series.sort(key=lambda point: point[0])
    return scalars, images


def steps_of(series):
    return [step for step, _ in series]


def checkpoint_steps(run_dir):
    index = glob.glob(os.path.join(run_dir, "checkpoints", "ckpt-*.index"))
    return sorted(int(os.path.basename(p)[len("ckpt-") : -len(".index")]) for p in index)


def csv_rows(run_dir):
    with open(os.path.join(run_dir, "logs", "training_log.csv"), newline="") as f:
        lines = f.read().splitlines()
    return lines[0].split(","), list(csv.DictReader(lines))


def generator_weights(run_dir):
    loaded = tf.saved_model.load(os.path.join(run_dir, "generator"))
    return {v.name: v.numpy() for v in loaded.variables}


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """One uninterrupted 2-epoch run, recording every checkpoint save and its stdout."""
    tmp = tmp_path_factory.mktemp("straight")
    saves = []
    original_save = tf.train.CheckpointManager.save

    def recording_save(self, checkpoint_number=None, **kwargs):
        saves.append(int(checkpoint_number))
        return original_save(self, checkpoint_number=checkpoint_number, **kwargs)

    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout):
        mp.setattr(tf.train.CheckpointManager, "save", recording_save)
        result = train_lib.run_training(run_config(tmp, progress="line"), log=lambda *_: None)
    assert result.status == "completed" and result.generator_step == 2 * STEPS_PER_EPOCH
    return types.SimpleNamespace(run_dir=result.run_dir, saves=saves, stdout=stdout.getvalue())


# ------------------------------------------------------------------ order
# (earlier, later, why): Keras calls each hook on the callbacks in list order.
ORDER = [
    (cbs.StopOnSignal, cbs.SampleGrids, "Ctrl-C handled from the start of on_train_begin"),
    (cbs.StopOnNonFinite, cbs.PeriodicCheckpoint, "a NaN step must not be checkpointed"),
    (cbs.SlopeAnnealing, cbs.SampleGrids, "the step-0 grid uses the slope of the step"),
    (cbs.SlopeAnnealing, cbs.PeriodicCheckpoint, "epoch checkpoint holds the annealed slope"),
    (cbs.SlopeAnnealing, cbs.TrainingLog, "the CSV row reads logs['slope']"),
    (cbs.SlopeAnnealing, cbs.TensorBoardLogger, "TensorBoard's epoch-end slope = the CSV's"),
    (cbs.SlopeAnnealing, cbs.EpochLines, "the epoch line shows the slope"),
    (cbs.SlopeAnnealing, cbs.ProgressBar, "the finished bar shows the slope"),
    (cbs.SampleGrids, cbs.TensorBoardLogger, "TensorBoard logs the grid just drawn"),
]


def _built(tmp_path, progress="line", tensorboard=True):
    trainer = types.SimpleNamespace(
        d_optimizer=keras.optimizers.Adam(1e-4), g_optimizer=keras.optimizers.Adam(2e-4)
    )
    manager = object()  # not called while building
    return cbs.build_callbacks(
        trainer,
        str(tmp_path),
        steps_per_epoch=8,
        total_steps=20,
        slope_annealing_rate=1.1,
        sample_every=5,
        fixed_z=np.zeros((64, 128), np.float32),
        checkpoint_manager=manager,
        checkpoint_every=3,
        tensorboard=tensorboard,
        scalars_every=3,
        progress=progress,
    )


@pytest.mark.parametrize("progress", ["bar", "line"])
def test_build_callbacks_orders_every_dependency(tmp_path, progress):
    built = _built(tmp_path, progress)
    types_in_order = [type(cb) for cb in built.callbacks]
    progress_type = cbs.ProgressBar if progress == "bar" else cbs.EpochLines
    assert sorted(t.__name__ for t in types_in_order) == sorted(
        t.__name__
        for t in (
            cbs.StopOnSignal,
            cbs.StopOnNonFinite,
            cbs.SlopeAnnealing,
            cbs.SampleGrids,
            cbs.PeriodicCheckpoint,
            cbs.TrainingLog,
            cbs.TensorBoardLogger,
            progress_type,
        )
    )
    for earlier, later, why in ORDER:
        if later in types_in_order:
            assert types_in_order.index(earlier) < types_in_order.index(later), why
    assert types_in_order[-1] is progress_type  # prints after all other work of the step
    # The pieces run_training inspects, and those wired to each other, are the listed ones.
    by_type = {type(cb): cb for cb in built.callbacks}
    assert built.guard is by_type[cbs.StopOnNonFinite]
    assert built.stopper is by_type[cbs.StopOnSignal]
    assert by_type[cbs.PeriodicCheckpoint].guard is built.guard
    assert by_type[cbs.TensorBoardLogger].grids is by_type[cbs.SampleGrids]
    assert os.path.isdir(tmp_path / "logs")


def test_build_callbacks_leaves_out_what_is_switched_off(tmp_path):
    built = _built(tmp_path, progress="off", tensorboard=False)
    kinds = {type(cb) for cb in built.callbacks}
    assert not kinds & {
        cbs.TensorBoardLogger,
        cbs.ProgressBar,
        cbs.EpochLines,
        keras.callbacks.TensorBoard,
        keras.callbacks.ProgbarLogger,
    }
    assert len(built.callbacks) == 6


@pytest.mark.slow
def test_nan_at_a_checkpoint_step_is_not_saved(tmp_path, monkeypatch):
    """Step 6 is a checkpoint step (every 3) and the first non-finite one: the guard, which
    runs first, stops the save. The run keeps step 3's checkpoint."""
    original = objectives.WGANGPTrainer.gradient_penalty

    def poisoned(self, real, fake):
        gp = original(self, real, fake)
        return tf.where(self.generator_step >= 5, tf.constant(np.nan, tf.float32), gp)

    monkeypatch.setattr(objectives.WGANGPTrainer, "gradient_penalty", poisoned)
    config = run_config(tmp_path, tensorboard=False)
    with pytest.raises(TrainingFailed, match="step 6"):
        train_lib.run_training(config, log=lambda *_: None)
    assert checkpoint_steps(config.run_dir) == [3]


# ------------------------------------------------------------------ checkpoints
@pytest.mark.slow
def test_checkpoints_every_n_steps_and_at_epoch_ends_keeping_the_last_three(straight):
    assert straight.saves == SCALAR_STEPS  # 3, 6, 9, 12, 15 and the epoch ends 8, 16
    assert checkpoint_steps(straight.run_dir) == [12, 15, 16]  # max_to_keep=3
    state = tf.train.get_checkpoint_state(os.path.join(straight.run_dir, "checkpoints"))
    assert [int(p.rsplit("-", 1)[1]) for p in state.all_model_checkpoint_paths] == [12, 15, 16]


class Killed(Exception):
    """Stands in for SIGKILL: the run ends without on_train_end and without a final save."""


@pytest.mark.slow
def test_resume_from_a_mid_epoch_checkpoint_matches_the_uninterrupted_run(
    tmp_path, monkeypatch, straight
):
    # Die after step 10, mid-epoch 2: the newest checkpoint is step 9's, a step checkpoint.
    original = cbs.StopOnNonFinite.on_train_batch_end

    def dies_at_step_10(self, batch, logs=None):
        original(self, batch, logs)
        if int(self.model.generator_step.numpy()) == 10:
            raise Killed()

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with monkeypatch.context() as mp:
            mp.setattr(cbs.StopOnNonFinite, "on_train_batch_end", dies_at_step_10)
            with pytest.raises(Killed):
                train_lib.run_training(run_config(tmp_path), log=lambda *_: None)
    finally:  # whatever the killed run left installed
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    run_dir = run_config(tmp_path).run_dir
    assert checkpoint_steps(run_dir) == [6, 8, 9]
    resume_time = time.time()
    resumed = train_lib.run_training(run_config(tmp_path, resume=True), log=lambda *_: None)
    assert resumed.generator_step == 16
    a, b = generator_weights(straight.run_dir), generator_weights(run_dir)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=0, atol=1e-6, err_msg=name)

    # The resumed run's TensorBoard points continue at its checkpoint's step (no step 0),
    # with the same windows and so the same values as the uninterrupted run.
    scalars, images = read_events(os.path.join(run_dir, "logs", "train"), since=resume_time)
    straight_scalars, _ = read_events(os.path.join(straight.run_dir, "logs", "train"))
    assert steps_of(scalars["d_loss"]) == [12, 15, 16]
    for tag in ("d_loss", "g_loss", "slope"):
        expected = [v for s, v in straight_scalars[tag] if s > 9]
        np.testing.assert_allclose(
            [v for _, v in scalars[tag]], expected, rtol=0, atol=1e-5, err_msg=tag
        )
    assert steps_of(images["samples"]) == [10, 15, 16]

    # The log was appended to: the killed run's epoch-1 row, then the resumed run's.
    header, rows = csv_rows(run_dir)
    assert [int(r["generator_step"]) for r in rows] == [8, 16]
    assert header == csv_rows(straight.run_dir)[0]


# ------------------------------------------------------------------ TensorBoard and CSV
@pytest.mark.slow
def test_tensorboard_shows_the_run_on_the_generator_step_axis(straight):
    scalars, images = read_events(os.path.join(straight.run_dir, "logs", "train"))
    for tag in (
        "d_loss",
        "g_loss",
        "gradient_penalty",
        "slope",
        "d_learning_rate",
        "g_learning_rate",
    ):
        assert steps_of(scalars[tag]) == SCALAR_STEPS, tag
    # The optimizers' real learning rate (Keras' callback logged a placeholder 0.001).
    for tag in ("d_learning_rate", "g_learning_rate"):
        assert [v for _, v in scalars[tag]] == pytest.approx([1e-4] * 7, rel=1e-6)
    # The slope after each step: annealed at the end of epoch 1, kept after the last step.
    assert [v for _, v in scalars["slope"]] == pytest.approx([1, 1, 1.1, 1.1, 1.1, 1.1, 1.1])
    # The grids, as 8x8 mosaics of 28x28 images with 1-pixel gaps, at the PNGs' steps.
    grid_size = 8 * 29 - 1
    for tag in ("samples", "preactivated"):
        assert steps_of(images[tag]) == GRID_STEPS, tag
        assert {size for _, size in images[tag]} == {(grid_size, grid_size)}
    pngs = {
        name
        for name in os.listdir(os.path.join(straight.run_dir, "samples"))
        if name.endswith(".png") and "preactivated" not in name
    }
    assert pngs == {
        "step_000000.png",
        "step_000005.png",
        "step_000010.png",
        "step_000015.png",
        "epoch_001.png",
        "epoch_002.png",
    }
    density = [v for _, v in scalars["sample_density"]]
    assert steps_of(scalars["sample_density"]) == GRID_STEPS
    assert all(0.0 <= v <= 1.0 for v in density)


@pytest.mark.slow
def test_training_log_has_no_val_columns_and_one_row_per_epoch(straight):
    header, rows = csv_rows(straight.run_dir)
    assert not [name for name in header if name.startswith("val_")]
    assert header[:2] == ["generator_step", "epoch"]
    assert {"d_loss", "g_loss", "slope"} <= set(header)
    assert [int(r["generator_step"]) for r in rows] == [8, 16]
    assert [float(r["epoch"]) for r in rows] == [1.0, 2.0]
    assert [float(r["slope"]) for r in rows] == pytest.approx([1.1, 1.1])
    assert all(np.isfinite(float(r["d_loss"])) for r in rows)


def _stub_model(step=0):
    return types.SimpleNamespace(
        generator_step=tf.Variable(step, dtype=tf.int64),
        slope=tf.Variable(1.0),
        stop_training=False,
    )


@pytest.mark.parametrize(
    "every,steps,slopes",
    [
        (3, [3, 6, 8, 9, 12, 15, 16], [1, 1, 1.1, 1.1, 1.1, 1.1, 1.21]),
        (4, [4, 8, 12, 16], [1, 1.1, 1.1, 1.21]),  # the epoch's last batch is due: one point
    ],
)
def test_tensorboard_scalars_are_means_over_the_steps_since_the_previous_point(
    tmp_path, every, steps, slopes
):
    """Keras hands callbacks running means since the epoch start; the logger turns them into
    the mean of the steps since its previous point, epoch by epoch. Two 8-step epochs."""
    values = np.random.default_rng(0).normal(size=(2, 8))
    model = _stub_model()
    logger = cbs.TensorBoardLogger(
        str(tmp_path), every=every, optimizers={"d_learning_rate": keras.optimizers.Adam(1e-4)}
    )
    logger.set_model(model)
    logger.set_params({"steps": 8, "epochs": 2, "verbose": 0})
    logger.on_train_begin()
    for epoch, epoch_values in enumerate(values):
        logger.on_epoch_begin(epoch)
        for batch in range(8):
            model.generator_step.assign_add(1)
            running_mean = np.float32(epoch_values[: batch + 1].mean())  # as keras.metrics.Mean
            logger.on_train_batch_end(batch, {"d_loss": running_mean})
        model.slope.assign(1.1 ** (epoch + 1))  # what SlopeAnnealing does before this hook
        logger.on_epoch_end(epoch, {"d_loss": running_mean})
    logger.on_train_end()
    scalars, _ = read_events(str(tmp_path))
    flat = values.ravel()  # generator step s is flat[s - 1]; an epoch end is always a point
    windows = [flat[start:stop] for start, stop in zip([0, *steps[:-1]], steps, strict=True)]
    assert steps_of(scalars["d_loss"]) == steps
    np.testing.assert_allclose(
        [v for _, v in scalars["d_loss"]], [w.mean() for w in windows], rtol=0, atol=1e-5
    )
    # One point per step, holding the values after it: at an epoch end, the annealed slope.
    assert steps_of(scalars["slope"]) == steps
    assert [v for _, v in scalars["slope"]] == pytest.approx(slopes)
    assert [v for _, v in scalars["d_learning_rate"]] == pytest.approx([1e-4] * len(steps))


def test_training_log_appends_under_its_first_header(tmp_path):
    path = str(tmp_path / "training_log.csv")
    for start, logs in (
        (0, {"g_loss": 1.0, "d_loss": 2.0, "slope": 1.1}),
        (5, {"d_loss": 3.0, "slope": 1.1, "g_loss": 4.0}),
    ):
        log = cbs.TrainingLog(path, steps_per_epoch=8)
        model = _stub_model(start + 3)
        log.set_model(model)
        log.on_epoch_end(0, dict(logs))
    with open(path, newline="") as f:
        assert f.read().splitlines() == [
            "generator_step,epoch,d_loss,g_loss,slope",
            "3,0.375,2.0,1.0,1.1",
            "8,1.0,3.0,4.0,1.1",
        ]


# ------------------------------------------------------------------ progress
class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self._tty = tty

    def isatty(self):
        return self._tty


def test_resolve_progress():
    assert cbs.resolve_progress("auto", _Stream(tty=True)) == "bar"
    assert cbs.resolve_progress("auto", _Stream(tty=False)) == "line"
    closed = io.StringIO()
    closed.close()
    assert cbs.resolve_progress("auto", closed) == "line"  # isatty() raises on a closed file
    assert cbs.resolve_progress("auto", object()) == "line"
    for mode in ("bar", "line", "off"):
        assert cbs.resolve_progress(mode, _Stream(tty=True)) == mode
    with pytest.raises(ValueError, match="verbose"):
        cbs.resolve_progress("verbose")


def _drive_stopped_epoch(progress, verbose):
    """Epoch 2 of 3, 8 steps planned, stopped after 3 (as after Ctrl-C)."""
    progress.set_params({"verbose": verbose, "epochs": 2, "steps": 8})
    progress.on_train_begin()
    progress.on_epoch_begin(1)
    for batch in range(3):
        progress.on_train_batch_end(batch, {"d_loss": 0.5})
    progress.on_epoch_end(1, {"d_loss": 0.5, "slope": 1.1})


def test_bar_ends_at_the_step_where_the_epoch_stopped(capsys):
    keras_bar = keras.callbacks.ProgbarLogger()
    _drive_stopped_epoch(keras_bar, verbose=1)
    assert "8/8" in capsys.readouterr().out  # the bug: Keras finalizes at the target

    _drive_stopped_epoch(cbs.ProgressBar(epochs=3), verbose=0)  # as run_training's fit()
    out = capsys.readouterr().out
    final = out.rsplit("\r", 1)[-1]
    assert "3/8" in final and "8/8" not in out
    assert "Epoch 2/3" in out  # the run's epochs, not this fit() call's
    assert out.endswith("\n")


def test_bar_of_an_epoch_ending_mid_execution_stops_at_its_steps(capsys):
    """8 steps at 3 per call: Keras reports the calls' last indices 2, 5 and 8, the last past
    the epoch's 8 steps; the bar ends at 8/8, not 9/8."""
    bar = cbs.ProgressBar(epochs=1)
    bar.set_params({"verbose": 0, "epochs": 1, "steps": 8})
    bar.on_train_begin()
    bar.on_epoch_begin(0)
    for batch in (2, 5, 8):
        bar.on_train_batch_end(batch, {"d_loss": 0.5})
    bar.on_epoch_end(0, {"d_loss": 0.5})
    out = capsys.readouterr().out
    assert bar.seen == 8 and "8/8" in out and "9/8" not in out


def test_line_mode_prints_one_plain_line_per_epoch():
    stream = io.StringIO()
    lines = cbs.EpochLines(epochs=3, stream=stream)
    model = _stub_model(8)
    lines.set_model(model)
    lines.on_epoch_begin(1)
    for _ in range(8):
        model.generator_step.assign_add(1)
        lines.on_train_batch_end(0, {"d_loss": 0.5})
    lines.on_epoch_end(
        1, {"d_loss": -2.04651, "g_loss": 0.0001, "slope": 1.1, "generator_step": 16}
    )
    lines.on_epoch_begin(2)
    model.generator_step.assign_add(3)
    model.stop_training = True
    lines.on_epoch_end(2, {"d_loss": 1.0, "slope": 1.21, "generator_step": 19})
    out = stream.getvalue()
    assert "\x1b" not in out and "\r" not in out and "\b" not in out
    first, second = out.splitlines()
    assert first.startswith("Epoch 2/3 - step 16 - 8 steps in ")
    assert first.endswith(" - d_loss: -2.0465 - g_loss: 1.0000e-04 - slope: 1.1000")
    assert second.startswith("Epoch 3/3 - step 19 - 3 steps in ")
    assert second.endswith(" - d_loss: 1.0000 - slope: 1.2100 - stopped")


@pytest.mark.slow
def test_a_run_with_line_progress_prints_one_line_per_epoch(straight):
    epoch_lines = [line for line in straight.stdout.splitlines() if line.startswith("Epoch")]
    assert [line.split(" - ")[:2] for line in epoch_lines] == [
        ["Epoch 1/2", "step 8"],
        ["Epoch 2/2", "step 16"],
    ]
    assert "\x1b" not in straight.stdout and "\r" not in straight.stdout
