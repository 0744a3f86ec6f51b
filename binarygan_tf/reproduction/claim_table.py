"""The claims table: each claim's verdict in each column, a column being one set of runs judged
on its own (each training budget of ours, then the authors' code's runs).

claims.py judges one set of runs; a reader needs the sets side by side, to see which claims
hold only after the full training and which fail in the authors' code too. The verdicts of the
columns line up row by row because claims.check returns every claim in the same order. The
page (page.py) and the terminal summary (`reproduce.py`) both print these rows.
"""

import dataclasses

from binarygan_tf.reproduction import claims

AUTHORS_COLUMN = "authors"  # the claims column of the authors' code's runs


@dataclasses.dataclass
class ClaimRow:
    experiment: str
    claim: str
    verdicts: dict  # column key (a profile name, or AUTHORS_COLUMN) -> claims.Verdict


def columns(evals):
    """{column key: evaluated runs}: each budget's runs (ours), then the authors' code's, whose
    runs are checked on their own, so each column says what one code base gives."""
    out = dict(evals.budgets)
    if evals.authors:
        out[AUTHORS_COLUMN] = evals.authors
    return out


def claim_rows(evals, param_counts):
    """One row per claim measured in at least one column, its verdict in each column."""
    per_budget = {
        name: claims.check(
            [(r.configuration, r.spec.seed, r.result) for r in runs.values()], param_counts
        )
        for name, runs in columns(evals).items()
    }
    rows = []
    for verdicts in zip(*per_budget.values(), strict=True):
        if any(v.holds is not None for v in verdicts):
            rows.append(
                ClaimRow(
                    verdicts[0].experiment,
                    verdicts[0].claim,
                    dict(zip(per_budget, verdicts, strict=True)),
                )
            )
    return rows


def console_summary(rows):
    """The verdicts as terminal lines (reproduce.py prints them after writing the page)."""

    def word(v):
        return "n/a" if v.holds is None else "holds" if v.holds else "does not hold"

    return [
        f"  {row.experiment:>5}  "
        + "  ".join(f"{budget}: {word(v):<13}" for budget, v in row.verdicts.items())
        + f"  {row.claim}"
        for row in rows
    ]
