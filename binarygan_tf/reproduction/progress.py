"""How long the reproduction has left (formatting.duration says it to a person).

A job of the paper's runs on a CPU takes hours, so each run's progress line carries an ETA for the
rest. It starts from measured priors per architecture and switches to this job's own seconds
per step as soon as it has timed a run of that architecture.

With `--jobs=N` (N > 1) runs train side by side, each on its share of the cores: a run's cost
is its steps times the seconds per step *at that concurrency*, and the ETA of the set is the
wall time of the schedule the job follows (`makespan`: longest first, each to the first free
slot), not the sum of the costs.
"""

import heapq

# Prior seconds per generator step on a 2-core CPU, used for the ETA until this job has timed a
# run of the same architecture itself, and as each run's cost when shards are balanced. Where
# the numbers come from: docs/performance.md, "The reproduction's budgets".
PRIOR_SECONDS_PER_STEP = {"mlp": 0.045, "cnn": 0.36}

# A run training beside others (reproduce.py --jobs=N, N > 1), pinned to its share of the cores,
# takes longer per step than one run alone on all of them. Measured on 2 cores (Intel Xeon,
# one core per run, two runs of the same configuration at once; bench/concurrent_runs.py,
# docs/performance.md): 1.48-1.74x the seconds per step of the run alone over the eleven
# configurations, MLP and CNN alike, median 1.65. As soon as a job has timed runs of an
# architecture at its own concurrency, their seconds per step are used instead.
SIDE_BY_SIDE_FACTOR = 1.65


def prior_seconds_per_step(arch, jobs=1):
    """The prior seconds per step of an `arch` run among `jobs` running side by side."""
    return PRIOR_SECONDS_PER_STEP[arch] * (SIDE_BY_SIDE_FACTOR if jobs > 1 else 1.0)


class EtaClock:
    """ETA of the remaining runs from the seconds per step measured so far, per architecture,
    of runs trained `jobs` at a time (the priors until then)."""

    def __init__(self, jobs=1):
        self.jobs = jobs
        self.measured = {}

    def record(self, arch, steps, seconds):
        if steps > 0:
            total_steps, total_seconds = self.measured.get(arch, (0, 0.0))
            self.measured[arch] = (total_steps + steps, total_seconds + seconds)

    def seconds_per_step(self, arch):
        if arch in self.measured:
            steps, seconds = self.measured[arch]
            return seconds / steps
        return prior_seconds_per_step(arch, self.jobs)

    def cost(self, arch, steps):
        """Expected seconds of `steps` generator steps of an `arch` run."""
        return self.seconds_per_step(arch) * steps

    def eta(self, pending):
        """`pending`: [(arch, steps_left)], trained one after another."""
        return sum(self.cost(arch, steps) for arch, steps in pending)


def longest_first(items, cost):
    """`items` by decreasing `cost(item)`, equal costs in their given order: the order that
    keeps the wall time of a set on several slots short (LPT: no slot is left with a long run
    to finish alone while the others are done)."""
    return sorted(items, key=lambda item: -cost(item))


def makespan(costs, slots, busy=()):
    """Wall time until all of `costs` are done on `slots` slots, taken in the given order, each
    to the slot free first; `busy`: the seconds left of what the slots are already running
    (at most `slots` of them). With `costs` longest first this is the greedy LPT schedule,
    within 4/3 of the shortest possible."""
    loads = sorted(busy) + [0.0] * (slots - len(busy))
    heapq.heapify(loads)
    for cost in costs:
        heapq.heapreplace(loads, loads[0] + cost)
    return max(loads, default=0.0)
