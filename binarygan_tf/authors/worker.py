"""The process the authors' code runs in: `python -m binarygan_tf.authors.worker REQUEST`.

REQUEST is a JSON file path or an inline JSON object with a "command":

- `train`: build their model from a preset (presets.Setup), train it with their own
  `BinaryGAN.train` / `GAN.train` loop on the images given as a `.npy`, then dump G's
  variables and G's outputs on a fixed z (compare.py turns those into our SavedModel).
  With `marker_steps`, also record the WGAN "early markers" at those generator steps, during
  the run (their loop restarts its counters on resume, so they cannot be read afterwards
  from checkpoints of one uninterrupted path): see `MarkerRecorder`.
- `parity`: build their model, then drive their graph exactly as their loop does (their
  critic schedule; `sess.run([d_step, d_loss])` per critic update, `sess.run([g_step,
  d_loss, g_loss])` per generator update) with z, real batches and every random draw (SBN
  noise, WGAN-GP interpolation weights) fed from a `.npz`, dumping the whole model state
  (weights and optimizer slots) before the first step and after each generator step
  (tests/test_authors_parity.py). From one of their checkpoints with `checkpoint` and
  `start_step` (tools/late_parity.py).
- `their_inputs`: build their model exactly as `train` does for a seed, dump its initial
  state, then run their own `train()` loop for a few generator steps, recording what it feeds
  (z and real batch of each step, and the sampler's fixed z and batch), and dump the state
  after them (tools/their_inputs.py: ours is driven from that state with that stream).
- `bench`: time their loop body, 5 critic updates + 1 generator update per generator step,
  on MNIST, and print one JSON line (bench/throughput.py's "authors" peer).

The answer is a JSON object written to the request's `result_path` (or printed as the last
stdout line starting with "{" when there is none). A missing package or a bad checkout is
reported as {"status": "error", "message": ...} with exit status 2, never a traceback.

This module imports nothing of TensorFlow at import time: `runtime.prepare_tensorflow()`
must run first (TF_USE_LEGACY_KERAS).
"""

import contextlib
import json
import math
import os
import signal
import statistics
import sys
import time

import numpy as np

from binarygan_tf import startup
from binarygan_tf.authors import presets, repository, runtime
from binarygan_tf.errors import EXIT_INTERRUPTED, EXIT_USER_ERROR
from binarygan_tf.model import seeds

PROGRESS_FILE = "authors_progress.json"
MARKERS_FILE = "markers.json"
# The generator's end mass at a marker is measured on one fixed set of z, the same for their
# code and ours (tools/wgan_markers.py): 2,048 = 32 of their fixed batches of 64 (their z
# placeholder has the batch size in its shape). Its seed is no run's: seeds.py gives every
# stream of a run a SeedSequence spawn key, and this plain root has none (28: issue #28).
MARKER_Z_COUNT = 2048
MARKER_Z_SEED = 28
# The critic's estimate at a marker is a mean over the generator steps before it, because one
# step's loss is one batch's: in a run of theirs (MLP DBN WGAN, steps 301-400) the per-step
# values had a standard deviation of 0.34 around a mean of 0.48.
MARKER_WINDOW = 200


class RequestError(Exception):
    """A request the worker cannot carry out (bad checkout, no checkpoint to resume...)."""


class _Stop(Exception):
    """Raised from the observed session at a generator-step boundary to leave their loop."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _write_json_atomic(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def _save_npz_atomic(path, arrays):
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _run_dirs(out_dir, copy_dir):
    """Their directory keys: what a run keeps goes under out_dir, the rest stays in the copy."""
    scratch = os.path.join(copy_dir, "exp", "unused")
    return dict(
        checkpoint_dir=os.path.join(out_dir, "checkpoints"),
        sample_dir=os.path.join(out_dir, "samples"),
        log_dir=os.path.join(out_dir, "logs"),
        eval_dir=os.path.join(scratch, "eval"),
        src_dir=os.path.join(scratch, "src"),
    )


def _scratch_dirs(copy_dir):
    scratch = os.path.join(copy_dir, "exp", "scratch")
    return {
        key: os.path.join(scratch, key)
        for key in ("checkpoint_dir", "sample_dir", "log_dir", "eval_dir", "src_dir")
    }


def _seed(tf, seed):
    """Their code sets no seed; a seeded run only makes their unseeded draws repeatable."""
    if seed is not None:
        np.random.seed(seed)
        tf.compat.v1.set_random_seed(seed)


def marker_z(count=MARKER_Z_COUNT, z_dim=None):
    """The fixed z of the WGAN markers' end mass, [count, z_dim] float32 (both sides)."""
    from binarygan_tf.model.contract import LATENT_DIM

    rng = np.random.default_rng(MARKER_Z_SEED)
    return rng.standard_normal((count, z_dim or LATENT_DIM)).astype(np.float32)


def _generator_outputs(gan):
    """(samples, preactivated) tensors of their G: BinaryGAN keeps both, GAN's sigmoid output
    is its own preactivated value."""
    pre = getattr(gan.G, "preactivated", None)
    return gan.G.tensor_out, (gan.G.tensor_out if pre is None else pre)


# ------------------------------------------------------------------------------ train
def _observed_session(sess, start_step, limit, on_save, on_generator_step=None):
    """The session handed to their model: forwards every `run` unchanged and watches it.

    It counts generator updates (their loop runs `[g_step, d_loss, g_loss]`), records which
    generator step each checkpoint their `Model.save` writes belongs to (the Saver runs its
    `save_tensor_name`), and, at the next critic update after the limit or after a
    SIGINT/SIGTERM, raises `_Stop` when their loop starts the next generator step (its first
    critic update), so it ends on a generator-step boundary. A `SessionInterface` subclass
    because `Saver.save/restore` check for one.

    `on_generator_step(step, critic_loss, after_critics_loss)`, if given, is called after
    each generator update with the loss their last critic update of that step fetched
    (computed before that update is applied, as ours logs it) and the loss fetched with the
    generator update (after all the step's critic updates, their batch.log's).
    """
    from tensorflow.python.client import session as session_lib

    class ObservedSession(session_lib.SessionInterface):
        def __init__(self):
            self.generator_steps = start_step
            self.limit = limit
            self.signal = None
            self.gan = None
            self._step_start = True  # no critic update of the current step has run yet
            self._critic_loss = None  # the d_loss fetched with the latest critic update

        @property
        def graph(self):
            return sess.graph

        @property
        def sess_str(self):
            return sess.sess_str

        def partial_run_setup(self, fetches, feeds=None):
            return sess.partial_run_setup(fetches, feeds)

        def partial_run(self, handle, fetches, feed_dict=None):
            return sess.partial_run(handle, fetches, feed_dict)

        def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
            first = fetches[0] if isinstance(fetches, (list, tuple)) and fetches else fetches
            gan = self.gan
            if gan is not None and first is gan.d_step:
                if self._step_start and self.signal:
                    raise _Stop(self.signal)
                if self._step_start and self.generator_steps >= self.limit:
                    raise _Stop("max_steps")
                self._step_start = False
            result = sess.run(fetches, feed_dict, options, run_metadata)
            if gan is not None:
                if first is gan.d_step and isinstance(fetches, (list, tuple)):
                    self._critic_loss = result[1] if len(result) > 1 else None
                if first is gan.g_step:
                    self.generator_steps += 1
                    self._step_start = True
                    if on_generator_step is not None:
                        after = result[1] if len(result) > 1 else None
                        on_generator_step(self.generator_steps, self._critic_loss, after)
                elif isinstance(fetches, str) and fetches == gan.saver.saver_def.save_tensor_name:
                    on_save(os.path.basename(_as_str(result)), self.generator_steps)
            return result

        def stop_on_signal(self, signum, frame):
            self.signal = signal.Signals(signum).name
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a 2nd Ctrl-C: out now

    return ObservedSession()


class MarkerRecorder:
    """The WGAN "early markers" of a run of their code (issue #28, 2c), recorded while it runs.

    At each generator step in `steps` it writes to `path` (JSON, rewritten atomically at each
    marker, so the markers reached survive a cut; a cut run is restarted from scratch all the
    same, their resume not being exact):
    - the critic's output layer: the mean of its kernel, its share of positive weights, its
      mean |w| (the sign it collapses onto decides where a WGAN run goes);
    - the critic's estimate: the negated critic loss their last critic update of each
      generator step fetched (before that update is applied: the quantity ours logs), as a
      mean over the last `window` generator steps; and, for reference, the mean of the loss
      fetched with the generator update (their batch.log's quantity);
    - the generator's end mass (evaluation.metrics.end_mass) of the preactivated outputs on
      `marker_z()`, run through their graph in batches of their fixed batch size.
    Reads only: the extra `sess.run`s touch no random op and no NumPy draw, so the training
    path is the one a run without markers takes (tests/test_wgan_markers.py checks it).
    """

    def __init__(self, sess, gan, steps, window, path, batch):
        import collections

        self.sess, self.gan, self.path, self.batch = sess, gan, path, batch
        self.steps = sorted(set(int(s) for s in steps))
        self.window = collections.deque(maxlen=int(window))
        self.markers = []
        self.kernel = self._output_kernel(gan)
        self.z = marker_z(z_dim=gan.z.shape.as_list()[1])
        self.start = time.time()

    @staticmethod
    def _output_kernel(gan):
        """D's output layer kernel: the kernel of D's highest-numbered layer (their nets are
        lists of layers `D/main/Layer_<i>/`, the output last; variable_map.py)."""
        kernels = {
            name: var
            for name, var in runtime.model_variables(gan).items()
            if name.startswith("D/") and name.endswith("/kernel")
        }
        return kernels[max(kernels, key=lambda n: int(n.split("Layer_")[1].split("/")[0]))]

    def __call__(self, step, critic_loss, after_critics_loss):
        self.window.append((float(critic_loss), float(after_critics_loss)))
        if step in self.steps:
            self.record(step)

    def record(self, step):
        from binarygan_tf.evaluation import metrics

        kernel = np.asarray(self.sess.run(self.kernel))
        pre_t = _generator_outputs(self.gan)[1]
        preactivated = np.concatenate(
            [
                np.asarray(self.sess.run(pre_t, {self.gan.z: self.z[i : i + self.batch]}))
                for i in range(0, len(self.z), self.batch)
            ]
        )
        losses = np.asarray(self.window, dtype=np.float64)
        self.markers.append(
            {
                "generator_step": step,
                "output_kernel_mean": float(kernel.mean()),
                "output_kernel_positive_share": float(np.mean(kernel > 0)),
                "output_kernel_mean_abs": float(np.abs(kernel).mean()),
                "estimate": float(-losses[:, 0].mean()),
                "estimate_after_critic_updates": float(-losses[:, 1].mean()),
                "estimate_window": len(losses),
                "end_mass": metrics.end_mass(preactivated),
                "end_mass_z": len(self.z),
                "train_seconds": time.time() - self.start,  # since their loop started
            }
        )
        _write_json_atomic(self.path, {"markers": self.markers, "steps": self.steps})


def _as_str(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def train(req):
    tf = runtime.prepare_tensorflow(req.get("resource_variables", False))
    setup = presets.Setup(**req["setup"])
    images = np.load(req["images_path"], mmap_mode="r").astype(bool)
    batch = int(req["batch_size"])
    out_dir = req["out_dir"]
    progress_path = os.path.join(out_dir, PROGRESS_FILE)
    progress = {"checkpoints": {}}
    if os.path.isfile(progress_path):
        with open(progress_path) as f:
            progress = json.load(f)

    def on_save(name, steps):
        progress["checkpoints"][name] = steps
        _write_json_atomic(progress_path, progress)

    start = time.time()
    with repository.staged_copy(req["authors_repo"]) as copy:
        code = runtime.import_code(copy)
        model_cfg, train_cfg = runtime.configure(code, setup, batch, _run_dirs(out_dir, copy))
        _seed(tf, req.get("seed"))
        with startup.quiet_stderr():
            sess = tf.compat.v1.Session(config=runtime.session_config(code))
        with sess, sess.as_default():
            recorder = None

            def on_generator_step(*args):
                if recorder is not None:
                    recorder(*args)

            observed = _observed_session(sess, 0, 0, on_save, on_generator_step)
            gan = runtime.build(code, observed, setup, model_cfg)
            gan.init_all()
            if req.get("marker_steps"):
                recorder = MarkerRecorder(
                    sess,
                    gan,
                    req["marker_steps"],
                    req.get("marker_window", MARKER_WINDOW),
                    os.path.join(out_dir, MARKERS_FILE),
                    batch,
                )
            observed.gan = gan
            done = 0
            if req.get("resume"):
                latest = tf.train.latest_checkpoint(model_cfg["checkpoint_dir"])
                if latest is None or os.path.basename(latest) not in progress["checkpoints"]:
                    raise RequestError(
                        f"--resume: {model_cfg['checkpoint_dir']} has no "
                        f"checkpoint written by this tool to resume from."
                    )
                gan.load(latest)
                done = progress["checkpoints"][os.path.basename(latest)]
            spe = len(images) // batch
            total = spe * int(req["epochs"])
            if req.get("max_steps"):
                total = min(total, int(req["max_steps"]))
            observed.generator_steps, observed.limit = done, total
            # Their loop runs whole epochs from its own counter 0; the observed session ends
            # it at `total` generator steps counted over the whole run.
            train_cfg["num_epoch"] = max(math.ceil((total - done) / spe), 0)
            status = "completed"
            previous = {
                s: signal.signal(s, observed.stop_on_signal)
                for s in (signal.SIGINT, signal.SIGTERM)
            }
            try:
                if train_cfg["num_epoch"]:
                    gan.train(images, train_cfg)
            except _Stop as stop:
                status = "interrupted" if stop.reason != "max_steps" else "completed"
            finally:
                for s, handler in previous.items():
                    signal.signal(s, handler)
            steps = observed.generator_steps
            saved = progress["checkpoints"]
            latest = tf.train.latest_checkpoint(model_cfg["checkpoint_dir"])
            if latest is None or saved.get(os.path.basename(latest)) != steps:
                gan.save()
            latest = tf.train.latest_checkpoint(model_cfg["checkpoint_dir"])
            if status == "interrupted":
                return {
                    "status": status,
                    "signal": observed.signal,
                    "generator_steps": steps,
                    "checkpoint": latest,
                    "wall_seconds": time.time() - start,
                }
            # The reference batch of the export check: z from the run's sample-z stream (as
            # our sample grids), and for an SBN the noise it is binarized against.
            seed = req.get("seed") or 0
            fixed_z = (
                seeds.rng(seed, "sample_z")
                .standard_normal((batch, model_cfg["net_g"]["z_dim"]))
                .astype(np.float32)
            )
            samples_t, pre_t = _generator_outputs(gan)
            feed = {gan.z: fixed_z}
            noise_t = runtime.random_tensors(gan)["sbn_noise"]
            arrays = {}
            if noise_t is not None:
                noise = (
                    seeds.rng(seed, "sbn_noise").random(noise_t.shape.as_list()).astype(np.float32)
                )
                feed[noise_t] = noise
                arrays["reference/sbn_noise"] = noise
            samples, pre = sess.run([samples_t, pre_t], feed)
            variables = runtime.read_variables(gan)
            arrays.update(
                {
                    f"variables/{k}": v
                    for k, v in variables.items()
                    if k.startswith("G/") or k == "slope"
                }
            )
            arrays.update(
                {
                    "reference/z": fixed_z,
                    "reference/samples": samples,
                    "reference/preactivated": pre,
                }
            )
            _save_npz_atomic(req["weights_path"], arrays)
            return {
                "status": status,
                "generator_steps": steps,
                "global_step": int(sess.run(gan.global_step)),
                "slope": float(variables["slope"]),
                "checkpoint": latest,
                "steps_per_epoch": spe,
                "resumed_from_step": done,
                "trainable_parameters": runtime.trainable_parameter_count(gan),
                "markers": recorder.markers if recorder else None,
                "wall_seconds": time.time() - start,
            }


# ------------------------------------------------------------------------------ parity
def parity(req):
    """Their graph driven as their loop drives it, with every random draw fed (module doc).
    Writes the model's whole state (runtime.read_state: weights and optimizer slots) to
    `<state_prefix><k>.npz` before the first step (k = 0) and after each generator step k.
    With `update_points`, also within each step k: after its first critic update
    (`<k>_first`), before its last one (`<k>_last`) and after all of them, before the
    generator update (`<k>_critics`), so single updates can be compared from one state.

    With `checkpoint` (one of their Saver checkpoints, a few epochs into a run), the model
    is restored from it by their own `Model.load` after `init_all`, as their train.py's
    `pretrained_dir` does, and the critic schedule counts from `start_step`, the checkpoint's
    generator step (their loop's counter had it there in the run that saved it)."""
    tf = runtime.prepare_tensorflow(req.get("resource_variables", False))
    setup = presets.Setup(**req["setup"])
    inputs = dict(np.load(req["inputs_path"]))
    z, real = inputs["z"], inputs["real"].astype(bool)
    n_steps, batch = z.shape[0], z.shape[1]
    prefix = req["state_prefix"]
    with repository.staged_copy(req["authors_repo"]) as copy:
        code = runtime.import_code(copy)
        model_cfg, _ = runtime.configure(
            code, setup, batch, _scratch_dirs(copy), sample_along_training=False
        )
        _seed(tf, req.get("seed"))
        sess = tf.compat.v1.Session(config=runtime.session_config(code))
        with sess, sess.as_default():
            gan = runtime.build(code, sess, setup, model_cfg)
            gan.init_all()
            start_step = int(req.get("start_step", 0))
            if req.get("checkpoint"):
                gan.load(req["checkpoint"])
            global_step = int(sess.run(gan.global_step))
            _save_npz_atomic(f"{prefix}0.npz", runtime.read_state(gan))
            rnd = runtime.random_tensors(gan)
            eps_zero = (
                None
                if rnd["interpolation"] is None
                else np.zeros(rnd["interpolation"].shape.as_list(), np.float32)
            )
            points = bool(req.get("update_points"))
            critic, d_losses, g_losses, counts = 0, [], [], []
            start = time.time()
            for step in range(n_steps):
                feed = {gan.x: real[step], gan.z: z[step]}
                n_critic = presets.critic_count(start_step + step)
                for j in range(n_critic):
                    if points and j == n_critic - 1:
                        _save_npz_atomic(f"{prefix}{step}_last.npz", runtime.read_state(gan))
                    if rnd["interpolation"] is not None:
                        feed[rnd["interpolation"]] = inputs["eps_critic"][critic]
                    if rnd["sbn_noise"] is not None:
                        feed[rnd["sbn_noise"]] = inputs["noise_critic"][critic]
                    _, d_loss = sess.run([gan.d_step, gan.d_loss], feed)
                    critic += 1
                    if points and j == 0:
                        _save_npz_atomic(f"{prefix}{step}_first.npz", runtime.read_state(gan))
                if points:
                    _save_npz_atomic(f"{prefix}{step}_critics.npz", runtime.read_state(gan))
                if rnd["interpolation"] is not None:
                    feed[rnd["interpolation"]] = eps_zero  # only the logged d_loss reads it
                if rnd["sbn_noise"] is not None:
                    feed[rnd["sbn_noise"]] = inputs["noise_generator"][step]
                _, _, g_loss = sess.run([gan.g_step, gan.d_loss, gan.g_loss], feed)
                d_losses.append(float(d_loss))
                g_losses.append(float(g_loss))
                counts.append(n_critic)
                _save_npz_atomic(f"{prefix}{step + 1}.npz", runtime.read_state(gan))
            return {
                "status": "completed",
                "start_step": start_step,
                "start_global_step": global_step,
                "critic_updates": critic,
                "n_critic": counts,
                "d_loss": d_losses,
                "g_loss": g_losses,
                "scope": gan.scope.name,
                "train_seconds": time.time() - start,
                "random_inputs": sorted(k for k, v in rnd.items() if v is not None),
                "trainable_parameters": runtime.trainable_parameter_count(gan),
                "variable_types": sorted(
                    {type(v).__name__ for v in tf.compat.v1.global_variables()}
                ),
            }


# ------------------------------------------------------------------------------ their inputs
class _FeedRecorder:
    """A session that forwards everything to `sess` and keeps the feed of each generator
    update (`fetches[0] is g_step`; their loop feeds one dict to all of a step's updates)."""

    def __init__(self, sess):
        self.sess, self.g_step, self.z, self.x = sess, None, [], []
        self.z_tensor = self.x_tensor = None

    @property
    def graph(self):
        return self.sess.graph

    @property
    def sess_str(self):
        return self.sess.sess_str

    def partial_run_setup(self, fetches, feeds=None):
        return self.sess.partial_run_setup(fetches, feeds)

    def partial_run(self, handle, fetches, feed_dict=None):
        return self.sess.partial_run(handle, fetches, feed_dict)

    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        first = fetches[0] if isinstance(fetches, (list, tuple)) and fetches else fetches
        if self.g_step is not None and first is self.g_step:
            self.z.append(np.array(feed_dict[self.z_tensor]))
            self.x.append(np.array(feed_dict[self.x_tensor]))
        return self.sess.run(fetches, feed_dict, options, run_metadata)


def their_inputs(req):
    """Their initial state for a seed, and what their own loop feeds its first steps.

    Builds and initializes their model in the order `train` does (staged copy, their config,
    `_seed`, session, build, `init_all`), writes the state (runtime.read_state) to
    `initial_path`, then runs their `train()` on the images for `record_steps` generator steps
    (their whole loop: sampler, logs, schedule), and writes to `feeds_path` the z and the real
    batch their loop fed each generator step, the sampler's `z_sample` and `x_sample` (drawn
    first, from the same NumPy generator), and the state after those steps (under `state/`),
    which a seeded `compare_authors.py --max_steps=record_steps` run must reproduce."""
    tf = runtime.prepare_tensorflow(req.get("resource_variables", False))
    setup = presets.Setup(**req["setup"])
    images = np.load(req["images_path"], mmap_mode="r").astype(bool)
    batch, steps = int(req["batch_size"]), int(req["record_steps"])
    start = time.time()
    with repository.staged_copy(req["authors_repo"]) as copy:
        code = runtime.import_code(copy)
        model_cfg, train_cfg = runtime.configure(code, setup, batch, _scratch_dirs(copy))
        _seed(tf, req.get("seed"))
        with startup.quiet_stderr():
            sess = tf.compat.v1.Session(config=runtime.session_config(code))
        with sess, sess.as_default():
            recorder = _FeedRecorder(sess)
            observed = _observed_session(recorder, 0, steps, lambda *_: None)
            gan = runtime.build(code, observed, setup, model_cfg)
            gan.init_all()
            _save_npz_atomic(req["initial_path"], runtime.read_state(gan))
            recorder.g_step, recorder.z_tensor, recorder.x_tensor = gan.g_step, gan.z, gan.x
            observed.gan = gan
            train_cfg["num_epoch"] = math.ceil(steps / (len(images) // batch))
            with contextlib.suppress(_Stop):  # after `steps` generator steps
                gan.train(images, train_cfg)
            arrays = {f"state/{k}": v for k, v in runtime.read_state(gan).items()}
            arrays.update(
                z=np.stack(recorder.z),
                x=np.stack(recorder.x),
                z_sample=np.asarray(gan.z_sample),
                x_sample=np.asarray(gan.x_sample),
            )
            _save_npz_atomic(req["feeds_path"], arrays)
            return {
                "status": "completed",
                "generator_steps": observed.generator_steps,
                "recorded_steps": len(recorder.z),
                "global_step": int(sess.run(gan.global_step)),
                "wall_seconds": time.time() - start,
            }


# ------------------------------------------------------------------------------ bench
def _busy_seconds():
    with open("/proc/stat") as f:
        v = [int(t) for t in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def _bench_images(mnist_dir):
    from binarygan_tf.training import data

    try:
        return data.binarize(data.load_mnist_split("train", mnist_dir)[0]).astype(bool), "MNIST"
    except Exception:  # no real data here: random binary images of the same shape
        rng = np.random.default_rng(0)
        return rng.random((6400, 28, 28, 1)) < 0.19, "random"


def bench(req):
    """Their loop body, timed: per generator step `n_critic` x `sess.run([d_step, d_loss])`
    and one `sess.run([g_step, d_loss, g_loss])` fed a numpy batch, each followed by the
    `step.log` line their loop writes (which reads `global_step` with one more `sess.run`),
    and the `batch.log` line. No warm-up schedule, no sampler (the peers' protocol)."""
    tf = runtime.prepare_tensorflow(req.get("resource_variables", False))
    arch, neuron, objective = req["config"].split(":")
    setup = presets.setup_for(neuron, objective, arch)
    n_critic, batch = int(req.get("n_critic", presets.CRITICS)), 64
    images, source = _bench_images(req.get("mnist_dir"))
    with repository.staged_copy(req.get("authors_repo") or repository.DEFAULT_REPO) as copy:
        code = runtime.import_code(copy)
        dirs = _scratch_dirs(copy)
        model_cfg, _ = runtime.configure(code, setup, batch, dirs, sample_along_training=False)
        _seed(tf, 0)
        sess = tf.compat.v1.Session(config=runtime.session_config(code))
        with (
            sess,
            sess.as_default(),
            open(os.path.join(dirs["log_dir"], "step.log"), "w") as log_step,
            open(os.path.join(dirs["log_dir"], "batch.log"), "w") as log_batch,
        ):
            gan = runtime.build(code, sess, setup, model_cfg)
            gan.init_all()
            num_batch = len(images) // batch

            def block(steps):
                z = np.random.normal(size=(steps, batch, 128))  # as their loop: float64
                idx = np.random.choice(len(images), (num_batch, batch), False)
                t0 = (time.perf_counter(), time.process_time(), _busy_seconds())
                for i in range(steps):
                    feed = {gan.x: images[idx[i % num_batch]], gan.z: z[i]}
                    batch_start = time.time()
                    # The lines (and the global-step read) their loop writes after each run.
                    for _ in range(n_critic):
                        _, d_loss = sess.run([gan.d_step, gan.d_loss], feed)
                        log_step.write(f"{gan.get_global_step_str()}, {-d_loss:14.6f}\n")
                    _, d_loss, g_loss = sess.run([gan.g_step, gan.d_loss, gan.g_loss], feed)
                    log_step.write(f"{gan.get_global_step_str()}, {-d_loss:14.6f}\n")
                    log_batch.write(
                        f"0, {i:d}, {time.time() - batch_start:f}, {-d_loss:f}, {g_loss:f}\n"
                    )
                wall = time.perf_counter() - t0[0]
                own = time.process_time() - t0[1]
                other = max(_busy_seconds() - t0[2] - own, 0.0)
                return wall, round(other / wall, 2)

            t0 = time.perf_counter()
            block(int(req.get("warmup", 20)))
            warmup_s = time.perf_counter() - t0
            steps = int(req.get("steps", 200))
            timed = [block(steps) for _ in range(int(req.get("repeats", 3)))]
            median = statistics.median(w for w, _ in timed)
            return {
                "impl": "authors_code",
                "arch": arch,
                "neuron": neuron,
                "objective": objective,
                "g_steps_per_s": round(steps / median, 3),
                "d_plus_g_updates_per_s": round(steps * (n_critic + 1) / median, 2),
                "median_block_s": round(median, 3),
                "block_s": [round(w, 3) for w, _ in timed],
                "other_cores_per_block": [u for _, u in timed],
                "warmup_s": round(warmup_s, 2),
                "g_steps_per_block": steps,
                "data": source,
                "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "TF default"),
                "presets": [setup.model, setup.preset_g, setup.preset_d, setup.optimizer],
                "trainable_parameters": runtime.trainable_parameter_count(gan),
            }


COMMANDS = {"train": train, "parity": parity, "their_inputs": their_inputs, "bench": bench}


def _read_request(arg):
    if arg.lstrip().startswith("{"):
        return json.loads(arg)
    with open(arg) as f:
        return json.load(f)


def main(argv):
    if len(argv) != 2:
        print("usage: python -m binarygan_tf.authors.worker REQUEST.json|'{...}'", file=sys.stderr)
        return 2
    req = _read_request(argv[1])
    command = COMMANDS.get(req.get("command"))
    try:
        if command is None:
            raise RequestError(
                f"unknown command {req.get('command')!r}; expected one of {', '.join(COMMANDS)}"
            )
        result = command(req)
    except (ImportError, RequestError) as e:
        result = {"status": "error", "message": str(e)}
    result.setdefault("status", "completed")
    if req.get("result_path"):
        _write_json_atomic(req["result_path"], result)
    else:
        print(json.dumps(result), flush=True)
    return {"error": EXIT_USER_ERROR, "interrupted": EXIT_INTERRUPTED}.get(result["status"], 0)


if __name__ == "__main__":
    # Their loop and the TF1 runtime log to stderr; the answer is the result file/last line.
    # (TensorFlow's log level: binarygan_tf's environment defaults, set on import above.)
    sys.exit(main(sys.argv))
