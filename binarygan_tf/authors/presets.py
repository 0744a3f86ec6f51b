"""Our flags -> the authors' configuration: which model class, presets and optimizer.

Their `config.py` selects everything through its `SETUP` dict: `model` ('binarygan' for the
binary neurons, 'gan' for the real-valued model), `preset_g` (a module of
`bgan/mnist/presets/generator/`), `preset_d` (of `.../discriminator/`), `gan_type` and
`optimizer`. The mapping:

| our flag | their setting |
| --- | --- |
| --neuron=dbn / sbn / real | model binarygan + `<arch>_round` / binarygan + `<arch>_bernoulli` / gan + `<arch>_real` |
| --objective=gan | gan_type 'gan', optimizer 'adam', D `<arch>_bn` (paper Sec. 4.5: BN in D for GAN) |
| --objective=wgan | gan_type 'wgan', optimizer 'rmsprop' (paper Sec. 4.5), D `<arch>` |
| --objective=wgan-gp | gan_type 'wgan-gp', optimizer 'adam' (paper Sec. 4.2), D `<arch>` |

The D preset follows the paper as our `objectives.OBJECTIVES` does (batch norm for GAN only),
unless `d_batch_norm` says otherwise, like our `--discriminator_batch_norm`: their committed
`config.py` trains the GAN objective with D `mlp`, without batch norm (docs/authors_code.md).

Also here: their critic schedule, which the parity worker replays with its own loop (their
`train()` hard-codes it inside the loop body, `bgan/mnist/models.py`).
"""

import dataclasses

from binarygan_tf.errors import UserError

NEURONS = ("dbn", "sbn", "real")
OBJECTIVES = ("gan", "wgan", "wgan-gp")
ARCHS = ("mlp", "cnn")

_G_SUFFIX = {"dbn": "round", "sbn": "bernoulli", "real": "real"}  # presets/generator/*.py
_OPTIMIZER = {"gan": "adam", "wgan": "rmsprop", "wgan-gp": "adam"}  # paper 4.2, 4.5

# models.py: `if (counter < 25) or (counter % 500 == 0): num_critics = 100 else 5`.
CRITICS, WARMUP_CRITICS, WARMUP_UNTIL, WARMUP_EVERY = 5, 100, 25, 500


@dataclasses.dataclass(frozen=True)
class Setup:
    """Their `SETUP` keys that pick the model (config.py), plus the arch and neuron they mean."""

    model: str  # 'binarygan' or 'gan' (train.py picks BinaryGAN or GAN from it)
    preset_g: str
    preset_d: str
    gan_type: str
    optimizer: str
    arch: str
    neuron: str

    @property
    def model_class(self):
        """Their class name, which is also the root variable scope of the graph."""
        return "BinaryGAN" if self.model == "binarygan" else "GAN"

    @property
    def d_batch_norm(self):
        return self.preset_d.endswith("_bn")


def setup_for(neuron, objective, arch, d_batch_norm=None):
    """The `Setup` for our flags; `d_batch_norm` None means the objective's (paper Sec. 4.5)."""
    for name, value, allowed in (
        ("neuron", neuron, NEURONS),
        ("objective", objective, OBJECTIVES),
        ("arch", arch, ARCHS),
    ):
        if value not in allowed:
            raise UserError(f"--{name}={value!r} is not one of {', '.join(allowed)}.")
    if d_batch_norm is None:
        d_batch_norm = objective == "gan"
    return Setup(
        model="gan" if neuron == "real" else "binarygan",
        preset_g=f"{arch}_{_G_SUFFIX[neuron]}",
        preset_d=arch + ("_bn" if d_batch_norm else ""),
        gan_type=objective,
        optimizer=_OPTIMIZER[objective],
        arch=arch,
        neuron=neuron,
    )


def critic_count(counter):
    """Critic updates their loop runs before generator step `counter` (0-based)."""
    if counter < WARMUP_UNTIL or counter % WARMUP_EVERY == 0:
        return WARMUP_CRITICS
    return CRITICS
