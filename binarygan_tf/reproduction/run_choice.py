"""Which evaluated runs the page shows, and in what order.

The claims use every run; the page's tables and figures cannot: the tables list the main
budget's runs (and the authors' code's only when the main budget is theirs, so their runs are
never put beside another budget's), a figure shows one run per configuration, and some figures
pair runs (each Exp. IV CNN with the MLP its claims compare it with). The figures and the text
make these choices the same way by asking here.
"""

from binarygan_tf.reproduction import claims, experiments


def in_page_order(evals, runs):
    """The runs of `runs` ({name: EvaluatedRun}) in the order of the page's run list."""
    return [runs[s.name] for s in evals.specs if s.name in runs]


def shown(evals):
    """The runs of the tables and figures: the main budget's, and the authors' code's when
    the main budget is theirs (their runs are not put beside another budget's)."""
    runs = in_page_order(evals, evals.main_runs)
    if evals.main.name == experiments.AUTHORS_PROFILE:
        authors = evals.authors
        runs += [authors[s.name] for s in experiments.AUTHORS_RUNS if s.name in authors]
    return runs


def representatives(evaluated):
    """The lowest-seed run of each configuration (figures show one run per configuration;
    the tables list every seed)."""
    best = {}
    for run in evaluated:
        current = best.get(run.configuration)
        if current is None or run.spec.seed < current.spec.seed:
            best[run.configuration] = run
    return [run for run in evaluated if best[run.configuration] is run]


def artifact_pairs(shown_runs):
    """[(MLP run, CNN run)] of ours, each Exp. IV CNN beside the MLP its claims compare it with
    (claims.mlp_counterpart): what the paper's "less artifacts" remark compares (Sec. 4.6)."""
    pairs = []
    for cnn in shown_runs:
        c = cnn.configuration
        if c.experiment != "IV" or c.neuron not in claims.CNN_NEURONS:
            continue
        mlp = [
            run
            for run in shown_runs
            if run.configuration.matches(implementation="ours", **claims.mlp_counterpart(c.neuron))
        ]
        if mlp:
            pairs.append((mlp[0], cnn))
    return pairs


def authors_configurations(authors):
    """One AuthorsRunSpec per configuration among the evaluated authors' runs (their seeds of
    one configuration are shown together), in AUTHORS_RUNS order."""
    seen, out = set(), []
    for spec in experiments.AUTHORS_RUNS:
        key = (spec.experiment, spec.arch, spec.neuron, spec.objective)
        if spec.name in authors and key not in seen:
            seen.add(key)
            out.append(spec)
    return out
