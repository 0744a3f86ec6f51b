"""The WGAN early markers' records and their odds (issue #28, point 2c), read by the tool that
trains the runs (tools/wgan_markers.py) and by the results page, which states the verdict.

Why a module of the package: the verdict on the page must come from the committed records by
the same arithmetic the tool prints, not from numbers copied into prose. The records are the
tool's JSON files, one per run (`<side>_seed<S>.json`); the published copy lives in
`models/paper/wgan_markers/` (MARKERS_FOLDER).
"""

import dataclasses
import glob
import itertools
import json
import math
import os

SIDES = ("ours", "theirs")
EXACT_SPLITS = 200_000  # above this many splits, permutation_p samples them
MARKERS_FOLDER = "wgan_markers"  # inside a profile's models folder: the published records


def run_name(side, seed):
    return f"{side}_seed{seed}"


def record_path(out_dir, side, seed):
    return os.path.join(out_dir, run_name(side, seed) + ".json")


def read_record(out_dir, side, seed):
    path = record_path(out_dir, side, seed)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def load_records(folder):
    """Every run's record in `folder` (none if it does not exist), ours first, by seed."""
    records = []
    for path in sorted(glob.glob(os.path.join(folder, "*_seed*.json"))):
        with open(path) as f:
            record = json.load(f)
        if record.get("side") in SIDES and record.get("status") == "done":
            records.append(record)
    return sorted(records, key=lambda r: (SIDES.index(r["side"]), r["seed"]))


def sign(marker):
    """-1, 0 or +1: the sign of the output layer's mean weight (where it collapses to)."""
    mean = marker["output_kernel_mean"]
    return (mean > 0) - (mean < 0)


def fisher_exact(table):
    """Two-sided Fisher exact p of a 2x2 table [[a, b], [c, d]]: the probability, with the
    margins fixed, of a table no more likely than the one seen."""
    (a, b), (c, d) = table
    row, col, n = a + b, a + c, a + b + c + d

    def p(x):
        return math.comb(col, x) * math.comb(n - col, row - x) / math.comb(n, row)

    seen = p(a)
    lo, hi = max(0, row + col - n), min(row, col)
    return min(1.0, sum(p(x) for x in range(lo, hi + 1) if p(x) <= seen * (1 + 1e-9)))


def permutation_p(first, second):
    """Two-sided exact permutation p of the difference of means: the share of all ways to
    split the pooled values into groups of these sizes whose means differ at least as much."""
    pooled = list(first) + list(second)
    k, n = len(first), len(first) + len(second)
    if not first or not second:
        return float("nan")
    seen = abs(sum(first) / k - sum(second) / (n - k))
    total = sum(pooled)
    if math.comb(n, k) <= EXACT_SPLITS:
        splits = itertools.combinations(range(n), k)
    else:  # too many to list: a fixed random sample of them
        import numpy as np

        rng = np.random.default_rng(0)
        splits = (rng.permutation(n)[:k] for _ in range(EXACT_SPLITS))
    hits = count = 0
    for chosen in splits:
        s = sum(pooled[i] for i in chosen)
        hits += abs(s / k - (total - s) / (n - k)) >= seen - 1e-12
        count += 1
    return hits / count


def _fmt(value, spec):
    return "—" if value is None else format(value, spec)


def summary(records, markers):
    """The Markdown tables: each run's markers, then the cross-tab of the output layer's sign
    between the sides, with the odds that they differ."""
    lines = ["| side | seed | " + " | ".join(f"{m:,} steps" for m in markers) + " |"]
    lines.append("|---|---|" + "---|" * len(markers))
    for r in sorted(records, key=lambda r: (SIDES.index(r["side"]), r["seed"])):
        at = {m["generator_step"]: m for m in r["markers"]}
        cells = []
        for step in markers:
            m = at.get(step)
            if m is None:
                cells.append("not yet")
                continue
            cells.append(
                f"{'+-'[sign(m) < 0]} ({m['output_kernel_mean']:+.4f}, "
                f"{m['output_kernel_positive_share']:.2f} > 0); est. "
                f"{_fmt(m.get('estimate'), '.3f')}; end mass {m['end_mass']:.3f}"
            )
        status = "" if r.get("status") == "done" else " (running)"
        lines.append(f"| {r['side']}{status} | {r['seed']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Each cell: the sign of the critic's output layer (its mean weight, its share",
        "of positive weights); the critic's estimate (negated loss, mean of the window);",
        "the generator's end mass on the fixed z.",
        "",
    ]
    lines += crosstab(records, markers)
    return "\n".join(lines)


def _pairs_by_side(records, first, last):
    """{side: [(marker at first, marker at last)]} of the runs that reached both."""
    by_side = {}
    for r in records:
        at = {m["generator_step"]: m for m in r["markers"]}
        if first in at and last in at:
            by_side.setdefault(r["side"], []).append((at[first], at[last]))
    return by_side


@dataclasses.dataclass(frozen=True)
class SignTest:
    step: int
    negative: tuple  # runs with a negative output layer: (ours, theirs)
    runs: tuple  # (ours, theirs)
    p: float  # Fisher exact


@dataclasses.dataclass(frozen=True)
class MeanTest:
    name: str
    step: int
    means: tuple  # (ours, theirs)
    runs: tuple
    p: float  # exact permutation


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The two codes' markers set against each other: the sign at the first and the last
    marker, the end mass and the estimate at the last."""

    signs: tuple  # SignTest at the first marker, at the last
    means: tuple  # MeanTest of the end mass, of the estimate

    @property
    def smallest_p(self):
        return min(t.p for t in (*self.signs, *self.means))


def comparison(records, markers):
    """The Comparison of the records of both sides, or None while a side has no run that
    reached the first and the last marker."""
    first, last = markers[0], markers[-1]
    by_side = _pairs_by_side(records, first, last)
    if set(by_side) != set(SIDES):
        return None
    ours, theirs = by_side["ours"], by_side["theirs"]
    runs = (len(ours), len(theirs))
    signs = []
    for step, pick in ((first, 0), (last, 1)):
        table = [
            [sum(sign(p[pick]) < 0 for p in side), sum(sign(p[pick]) >= 0 for p in side)]
            for side in (ours, theirs)
        ]
        signs.append(SignTest(step, (table[0][0], table[1][0]), runs, fisher_exact(table)))
    means = []
    for name, key in (("end mass", "end_mass"), ("estimate", "estimate")):
        a = [p[1][key] for p in ours if p[1].get(key) is not None]
        b = [p[1][key] for p in theirs if p[1].get(key) is not None]
        means.append(
            MeanTest(
                name,
                last,
                (sum(a) / len(a) if a else None, sum(b) / len(b) if b else None),
                (len(a), len(b)),
                permutation_p(a, b),
            )
        )
    return Comparison(tuple(signs), tuple(means))


def crosstab(records, markers):
    """Is the sign decided at the first marker, and does it split alike on both sides?"""
    first, last = markers[0], markers[-1]
    by_side = _pairs_by_side(records, first, last)
    if not by_side:
        return ["No run has reached its first and last marker yet."]
    lines = [
        f"| side | runs | negative at {first:,} | negative at {last:,} | "
        f"same sign at {first:,} and {last:,} | mean end mass at {last:,} | "
        f"mean estimate at {last:,} |",
        "|---|---|---|---|---|---|---|",
    ]
    for side in SIDES:
        pairs = by_side.get(side, [])
        if not pairs:
            continue
        estimates = [b.get("estimate") for _, b in pairs if b.get("estimate") is not None]
        lines.append(
            f"| {side} | {len(pairs)} | {sum(sign(a) < 0 for a, _ in pairs)} | "
            f"{sum(sign(b) < 0 for _, b in pairs)} | {sum(sign(a) == sign(b) for a, b in pairs)} | "
            f"{sum(b['end_mass'] for _, b in pairs) / len(pairs):.3f} | "
            f"{_fmt(sum(estimates) / len(estimates) if estimates else None, '.3f')} |"
        )
    both = comparison(records, markers)
    if both is not None:
        lines.append("")
        for test in both.signs:
            lines.append(
                f"- Negative output layer at {test.step:,}: ours {test.negative[0]} of "
                f"{test.runs[0]}, theirs {test.negative[1]} of {test.runs[1]}; Fisher exact "
                f"p = {test.p:.3f} (the chance of a split at least this uneven if the code made "
                f"no difference)."
            )
        for test in both.means:
            lines.append(
                f"- {test.name.capitalize()} at {test.step:,}: permutation p = {test.p:.3f} "
                f"(the share of all splits of the {sum(test.runs)} runs into groups of "
                f"{test.runs[0]} and {test.runs[1]} whose means differ at least as much)."
            )
    return lines
