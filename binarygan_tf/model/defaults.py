"""The model's numbers that the settings schema (training/config.py) offers as defaults.

Kept apart from trainer.py and networks.py, which load TensorFlow, so that the schema, and
with it every command's flag check, stays free of TensorFlow (a bad flag is refused in
milliseconds).
"""

# The critic schedule (code: models.py `if counter < 25 or counter % 500 == 0: num_critics =
# 100 else 5`, the numbers of WGAN's reference implementation); trainer.CriticSchedule.
CRITIC_STEPS = 5
CRITIC_WARMUP_STEPS = 100
CRITIC_WARMUP_UNTIL = 25
CRITIC_WARMUP_EVERY = 500

# Where the paper's text and the authors' code disagree (docs/authors_code.md), which one the
# networks and optimizers follow; "code" is the measured default ("Which default" there).
FOLLOW = ("code", "paper")
DEFAULT_FOLLOW = "code"
