"""experiments.py: the paper's runs, their configurations and seed repeats, and an unknown
run name on the command line."""

from binarygan_tf.reproduction import experiments
from binarygan_tf.reproduction.experiments import Configuration
from tests import helpers


def test_run_registry_gives_the_paper_configurations_and_seed_repeats(tmp_path):
    profile = experiments.PROFILES["paper"]
    configs = {s.name: experiments.run_config(s, profile, str(tmp_path)) for s in experiments.RUNS}
    facts = {s.name: experiments.configuration(s, configs[s.name]) for s in experiments.RUNS}
    assert len(experiments.RUNS) == 19 and len(set(configs)) == 19
    assert facts["exp3_mlp_sbn_gan"] == Configuration("III", "mlp", "sbn", "gan", "code")
    assert facts["exp4_cnn_real"] == Configuration("IV", "cnn", "real", "wgan-gp", "code")
    assert facts["extra_mlp_dbn_paperbn"].follow == "paper"
    assert configs["exp1_mlp_dbn"].epochs == 20
    for neuron in ("dbn", "sbn"):
        repeats = [n for n in configs if facts[n] == facts[f"exp1_mlp_{neuron}"]]
        assert repeats == [
            f"exp1_mlp_{neuron}",
            f"exp1_mlp_{neuron}_seed1",
            f"exp1_mlp_{neuron}_seed2",
        ]
        assert [configs[n].seed for n in repeats] == [0, 1, 2]
    wgan = [n for n in configs if facts[n] == facts["exp3_mlp_dbn_wgan"]]
    assert wgan == ["exp3_mlp_dbn_wgan", "exp3_mlp_dbn_wgan_seed1", "exp3_mlp_dbn_wgan_seed2"]
    assert [configs[n].seed for n in wgan] == [0, 1, 2]
    cnn_sbn = [n for n in configs if facts[n] == facts["exp4_cnn_sbn"]]
    assert cnn_sbn == ["exp4_cnn_sbn", "exp4_cnn_sbn_seed1", "exp4_cnn_sbn_seed2"]
    assert [configs[n].seed for n in cnn_sbn] == [0, 1, 2]
    assert len(set(facts.values())) == 11  # eleven configurations, some in several seeds


def test_unknown_run_name_is_one_line_and_exit_2(tmp_path):
    proc = helpers.reproduce(tmp_path, "--only=exp9_nothing")
    assert helpers.user_error(proc).startswith("error: --only: unknown run(s) exp9_nothing")
    assert not (tmp_path / "runs").exists()
