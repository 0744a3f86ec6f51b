"""How long the reproduction has left (formatting.duration says it to a person).

A job of seventeen runs on a CPU takes hours, so each run's progress line carries an ETA for the
rest. It starts from measured priors per architecture and switches to this job's own seconds
per step as soon as it has timed a run of that architecture.
"""

# Prior seconds per generator step on a 2-core CPU, used for the ETA until this job has timed a
# run of the same architecture itself, and as each run's cost when shards are balanced. Where
# the numbers come from: docs/performance.md, "The reproduction's budgets".
PRIOR_SECONDS_PER_STEP = {"mlp": 0.045, "cnn": 0.36}


class EtaClock:
    """ETA of the remaining runs from the seconds per step measured so far, per architecture."""

    def __init__(self):
        self.measured = {}

    def record(self, arch, steps, seconds):
        if steps > 0:
            total_steps, total_seconds = self.measured.get(arch, (0, 0.0))
            self.measured[arch] = (total_steps + steps, total_seconds + seconds)

    def seconds_per_step(self, arch):
        if arch in self.measured:
            steps, seconds = self.measured[arch]
            return seconds / steps
        return PRIOR_SECONDS_PER_STEP[arch]

    def eta(self, pending):
        """`pending`: [(arch, steps_left)]."""
        return sum(self.seconds_per_step(arch) * steps for arch, steps in pending)
