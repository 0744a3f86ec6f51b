"""One source of truth for the settings: flags built from TrainConfig, flagfiles parsed by absl
for every entry point, --help grouped with real defaults, --resume trusting the run."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest
from absl import flags

from binarygan_tf.errors import UserError
from binarygan_tf.training import config, flag_defs
from tests.helpers import ROOT, run_script, write_fake_mnist


def _parse(argv):
    values = flags.FlagValues()
    flag_defs.define_train_flags(values)
    flag_defs.define_experiment_flag(values)
    values(["train.py", *argv])
    return values


def test_every_setting_is_a_flag_with_the_same_default():
    values = _parse([])
    for field in config.TrainConfig.fields():
        assert values[field.name].default == field.default, field.name
        assert field.metadata["group"] in config.GROUPS
        assert field.metadata["help"]
    assert flag_defs.to_config(values) == config.TrainConfig()


def test_library_defaults_are_what_training_uses():
    """A notebook user gets the model train.py trains (follow="code" everywhere)."""
    import inspect

    from binarygan_tf.model import networks, objectives

    assert config.TrainConfig().follow == config.DEFAULT_FOLLOW == "code"
    for fn in (
        networks.build_generator,
        networks.build_discriminator,
        objectives.ObjectiveSpec.make_optimizer,
    ):
        assert inspect.signature(fn).parameters["follow"].default == "code", fn


@pytest.mark.parametrize(
    "arch, given, resolved", [("mlp", None, 25), ("cnn", None, 1), ("mlp", 1, 1), ("cnn", 7, 7)]
)
def test_steps_per_execution_defaults_per_architecture_and_is_recorded(arch, given, resolved):
    """Unset, it is the measured default of the architecture (config.DEFAULT_STEPS_PER_EXECUTION:
    the MLP's short step gains from 25 per call, the CNN's does not); config.json records the
    value the run used, so a resume continues with it."""
    settings = config.TrainConfig(arch=arch, steps_per_execution=given)
    settings.validate()
    assert settings.resolved_steps_per_execution == resolved
    assert settings.to_json()["steps_per_execution"] == resolved


@pytest.mark.parametrize(
    "arch, objective, given, resolved",
    [
        ("mlp", "wgan-gp", None, False),
        ("mlp", "wgan", None, True),
        ("mlp", "gan", None, True),
        ("cnn", "wgan-gp", None, False),
        ("cnn", "wgan", None, False),
        ("cnn", "gan", None, False),
        ("mlp", "wgan-gp", True, True),
        ("cnn", "gan", True, True),
        ("mlp", "gan", False, False),
    ],
)
def test_xla_defaults_per_network_and_objective_and_is_recorded(arch, objective, given, resolved):
    """Unset, XLA follows the measured table (config.DEFAULT_JIT_COMPILE: off where oneDNN's
    kernels trained faster, the MLP under WGAN-GP and the CNN); a given value wins; config.json
    records the value used, so --resume continues on the same path and random stream."""
    settings = config.TrainConfig(arch=arch, objective=objective, jit_compile=given)
    settings.validate()
    assert settings.resolved_jit_compile is resolved
    assert settings.to_json()["jit_compile"] is resolved


def test_steps_per_execution_must_be_positive():
    with pytest.raises(UserError, match="--steps_per_execution must be a positive integer"):
        config.TrainConfig(steps_per_execution=0).validate()


@pytest.mark.parametrize(
    "line,expected",
    [
        ("--jit_compile", True),
        ("--jit_compile=true", True),
        ("--nojit_compile", False),
        ("--jit_compile=false", False),
    ],
)
def test_boolean_flagfile_lines_read_the_same_everywhere(tmp_path, line, expected):
    """The old hand-written flagfile parser read a bare --jit_compile as False and refused
    --nojit_compile; every flagfile now goes through absl."""
    path = tmp_path / "x.cfg"
    path.write_text(f"# comment\n--arch=cnn\n{line}\n")
    assert flag_defs.from_flagfile(str(path)).jit_compile is expected
    assert flag_defs.to_config(_parse([f"--flagfile={path}"])).jit_compile is expected


def test_each_experiment_flagfile_gives_one_config_under_train_and_reproduce():
    from binarygan_tf.reproduction import experiments

    for name in flag_defs.experiment_names():
        path = flag_defs.experiment_flagfile(name)
        from_train = flag_defs.to_config(_parse([f"--flagfile={path}"]))
        assert flag_defs.from_flagfile(path) == from_train
        assert flag_defs.from_command_line(_parse([f"--experiment={name}"])) == from_train
    spec = experiments.RUNS[0]
    run = experiments.run_config(spec, experiments.PROFILES["paper"], "r")
    expected = dataclasses.replace(
        flag_defs.from_flagfile(spec.flagfile),
        out_dir=run.out_dir,
        progress=run.progress,
        seed=spec.seed,
    )
    assert run == expected


def test_bad_flagfile_line_is_one_user_error(tmp_path):
    path = tmp_path / "bad.cfg"
    path.write_text("--neuron=dbm\n")
    with pytest.raises(UserError, match="dbm"):
        flag_defs.from_flagfile(str(path))


def test_bn_mode_is_a_deprecated_alias_of_follow():
    assert flag_defs.to_config(_parse(["--bn_mode=paper"])).follow == "paper"
    with pytest.raises(UserError, match="deprecated"):
        flag_defs.to_config(_parse(["--bn_mode=paper", "--follow=code"]))


def test_old_config_json_with_bn_mode_loads():
    assert config.TrainConfig.from_dict({"bn_mode": "paper", "neuron": "sbn"}).follow == "paper"


# ------------------------------------------------------------------ --resume
STORED = dict(config.TrainConfig(neuron="sbn", epochs=20, out_dir="r").to_json())


def test_resume_keeps_the_stored_model_and_takes_what_may_change():
    resumed, changes = config.reconcile_resume(STORED, {"epochs": 25, "progress": "line"})
    assert resumed.neuron == "sbn" and resumed.epochs == 25 and resumed.resume
    assert changes == {"epochs": (20, 25), "progress": ("auto", "line")}


@pytest.mark.parametrize(
    "given",
    [{"neuron": "dbn"}, {"arch": "cnn"}, {"seed": 3}, {"batch_size": 32}, {"follow": "paper"}],
)
def test_resume_refuses_a_conflicting_setting(given):
    name = next(iter(given))
    with pytest.raises(UserError, match=f"--{name}=.* conflicts with the run"):
        config.reconcile_resume(STORED, given)


def test_resume_accepts_a_setting_equal_to_the_stored_one():
    resumed, changes = config.reconcile_resume(STORED, {"neuron": "sbn"})
    assert resumed.neuron == "sbn" and changes == {}


def _cli(args, cwd):
    return run_script("train.py", args, cwd)


@pytest.mark.slow
def test_resume_from_the_command_line_uses_the_run_and_refuses_conflicts(tmp_path):
    mnist = write_fake_mnist(tmp_path / "mnist")
    out = tmp_path / "run"
    common = [
        f"--mnist_dir={mnist}",
        f"--out_dir={out}",
        "--batch_size=16",
        "--critic_steps=1",
        "--critic_warmup_steps=1",
        "--critic_warmup_until=0",
        "--notensorboard",
        "--progress=off",
        "--sample_every=1000",
    ]
    first = _cli([*common, "--neuron=sbn", "--max_steps=3"], tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    stored = (out / "config.json").read_text()

    for flag in ("--neuron=dbn", "--arch=cnn", "--seed=9"):
        bad = _cli([*common, "--resume", flag], tmp_path)
        assert bad.returncode == 2, bad.stderr[-2000:]
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and "conflicts with the run being resumed" in lines[0], lines
        assert (out / "config.json").read_text() == stored  # nothing rewritten

    # Without its flagfile or --neuron the run continues as what it is (an SBN run),
    # with the new --max_steps recorded.
    again = _cli([*common, "--resume", "--max_steps=5"], tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    record = json.loads((out / "config.json").read_text())
    assert record["neuron"] == "sbn" and record["max_steps"] == 5
    assert record["resumes"][-1]["generator_step"] == 3
    assert record["resumes"][-1]["changed"] == {"max_steps": [3, 5]}
    meta = json.loads((out / "generator" / "binarygan.json").read_text())
    assert meta["neuron"] == "sbn" and meta["generator_step"] == 5


# ------------------------------------------------------------------ --help and errors
@pytest.mark.parametrize(
    "script,expected",
    [
        (
            "train.py",
            [
                "data:",
                "model:",
                "schedule:",
                "output:",
                "speed:",
                "--neuron={dbn,sbn,real}  (default: dbn)",
                "--steps_per_execution  (default: unset)",
                "--follow={code,paper}  (default: code)",
                "--epochs  (default: 20)",
            ],
        ),
        ("evaluate.py", ["--generator", "--num_samples  (default: 10000)"]),
        ("reproduce.py", ["--profile"]),
    ],
)
def test_help_lists_every_flag_grouped_with_real_defaults(script, expected):
    for arg in ("--help", "--helpshort"):
        proc = subprocess.run(
            [sys.executable, os.path.join(ROOT, script), arg],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": ROOT},
        )
        assert proc.returncode == 0, proc.stderr
        for text in expected:
            assert text in proc.stdout, (script, text)
    if script == "train.py":
        for field in config.TrainConfig.fields():
            assert f"--{field.name}" in proc.stdout


def test_a_bad_flag_fails_fast_without_tensorflow_noise(tmp_path):
    """The flags are checked before TensorFlow loads: one line, no C++ start-up log."""
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), "--epochs=0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "0"},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --epochs must be a positive integer, got 0."
    ]
    code = "import sys; from binarygan_tf import config;print('tensorflow' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT},
        timeout=60,
    )
    assert out.stdout.strip() == "False"
