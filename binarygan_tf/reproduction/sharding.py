"""`--shard=INDEX/COUNT`: which of the runs one machine of a job array trains.

The split must come out the same on every machine without them talking to each other, so it
is a pure function of the run list and COUNT. It balances the expected training time, not the
number of runs: a CNN step costs about eight MLP steps (progress.PRIOR_SECONDS_PER_STEP), so
the runs are dealt costliest first, each to the shard with the least work so far (ties to the
lowest index), and each shard then trains its share in the registry's order.
"""

import dataclasses
import re

from binarygan_tf.errors import UserError


@dataclasses.dataclass(frozen=True)
class Shard:
    index: int  # 0-based, as job arrays number their tasks (e.g. $SLURM_ARRAY_TASK_ID)
    count: int

    def __str__(self):
        return f"{self.index}/{self.count}"


def parse(text):
    """A Shard from "INDEX/COUNT" (0 <= INDEX < COUNT), or a UserError saying what is wrong."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match:
        raise UserError(
            f"--shard={text!r} is not INDEX/COUNT (e.g. --shard=0/4 for the "
            f"first of four machines)."
        )
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise UserError(f"--shard={text}: COUNT must be at least 1.")
    if index >= count:
        raise UserError(
            f"--shard={text}: INDEX counts from 0, so it must be below COUNT "
            f"({count}); the shards are 0/{count} to {count - 1}/{count}."
        )
    return Shard(index, count)


def assign(costs, count):
    """Shard index of each item, given each item's cost: costliest first to the least loaded
    shard. Deterministic: equal costs keep their order, equal loads go to the lower index."""
    loads = [0.0] * count
    owner = [None] * len(costs)
    for i in sorted(range(len(costs)), key=lambda i: -costs[i]):
        target = min(range(count), key=lambda s: (loads[s], s))
        owner[i] = target
        loads[target] += costs[i]
    return owner


def check(shard, num_items):
    """A UserError if some shard of `shard.count` would get nothing of `num_items`."""
    if shard.count > num_items:
        raise UserError(
            f"--shard={shard}: {shard.count} shards for {num_items} run(s) would "
            f"leave shards with nothing to train; use at most {num_items}."
        )


def share(items, shard, cost):
    """The items (in their order) that `shard` owns; `cost(item)` is the expected work."""
    check(shard, len(items))
    owner = assign([cost(item) for item in items], shard.count)
    return tuple(item for item, o in zip(items, owner, strict=True) if o == shard.index)
