"""docs/results.md, generated: the paper's claims checked at each training budget, figures beside
the paper's, and metric tables.

The page is written only from measured numbers (reproduction.Evaluations). The claims and
their rules are claims.py's; the page gives each claim one row and each training budget with
evaluated runs one column (quick's 3 epochs beside the paper's 20), so a reader sees which
claims hold only after the full training. The tables, figures and wall times come from the
main budget (`paper` once it has every run). Each section is a small function returning its
lines, in the order the page shows them.
"""

import dataclasses
import datetime
import os
import platform

import numpy as np

from binarygan_tf import files, formatting
from binarygan_tf.evaluation import pipeline as evaluation
from binarygan_tf.evaluation import plots
from binarygan_tf.formatting import duration as format_duration
from binarygan_tf.reproduction import claims, experiments
from binarygan_tf.reproduction.experiments import PROFILES

PAPER_FIGURES = "https://salu133445.github.io/binarygan/figs/"  # the authors' published figures

EXPERIMENTS = (  # (experiment, section title, the authors' figures of it)
    (
        "I",
        "Exp. I: deterministic vs stochastic binary neurons (MLP, WGAN-GP; paper Sec. 4.3, "
        "Fig. 3-4)",
        ("mlp_dbn", "mlp_sbn", "colored_dbn", "colored_sbn"),
    ),
    (
        "II",
        "Exp. II: the real-valued model, binarized after training (MLP, WGAN-GP; paper "
        "Sec. 4.4, Fig. 4-5)",
        ("mlp_real", "mlp_real_round", "mlp_real_bernoulli"),
    ),
    (
        "III",
        "Exp. III: GAN and WGAN objectives (MLP; paper Sec. 4.5, Fig. 6)",
        ("mlp_dbn_wgan", "mlp_sbn_wgan", "mlp_dbn_gan", "mlp_sbn_gan"),
    ),
    (
        "IV",
        "Exp. IV: convolutional networks (WGAN-GP; paper Sec. 4.6, Fig. 7)",
        ("cnn_dbn", "cnn_sbn"),
    ),
    (
        "extra",
        "Beyond the paper: the paper's batch norm instead of the authors' code's "
        "(docs/authors_code.md)",
        (),
    ),
)
# Paper Fig. 4: the preactivated outputs of these configurations, in this order.
HISTOGRAM = (("I", "dbn"), ("I", "sbn"), ("II", "real"))


# ---------------------------------------------------------------- the claims, per budget
@dataclasses.dataclass
class ClaimRow:
    experiment: str
    claim: str
    verdicts: dict  # budget (profile name) -> claims.Verdict


AUTHORS_COLUMN = "authors"  # the claims column of the authors' code's runs


def _columns(evals):
    """{column key: evaluated runs}: each budget's runs (ours), then the authors' code's, whose
    runs are checked on their own, so each column says what one code base gives."""
    columns = dict(evals.budgets)
    if evals.authors:
        columns[AUTHORS_COLUMN] = evals.authors
    return columns


def column_head(key):
    if key == AUTHORS_COLUMN:
        return f"authors' code, {PROFILES[experiments.AUTHORS_PROFILE].budget}"
    return PROFILES[key].budget


def claim_rows(evals, param_counts):
    """One row per claim measured in at least one column, its verdict in each column."""
    per_budget = {
        name: claims.check(
            [(r.configuration, r.spec.seed, r.result) for r in runs.values()], param_counts
        )
        for name, runs in _columns(evals).items()
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


def _verdict_cell(verdict):
    if verdict.holds is None:
        return "not measured"
    word = "**holds**" if verdict.holds else "**does not hold**"
    return f"{word}: {verdict.evidence}" + (f". *{verdict.caveat}*" if verdict.caveat else "")


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


# ---------------------------------------------------------------- which run shows what
def _in_page_order(evals, runs):
    return [runs[s.name] for s in evals.specs if s.name in runs]


def _shown(evals):
    """The runs of the tables and figures: the main budget's, and the authors' code's when
    the main budget is theirs (their runs are not put beside another budget's)."""
    runs = _in_page_order(evals, evals.main_runs)
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


def _samples(run):
    preactivated, variants = run.samples
    return preactivated, variants.get("binary", variants.get("threshold"))


# ---------------------------------------------------------------- figures
def write_figures(evals, figure_dir):
    """Figures of the page (main budget), into `figure_dir`; returns {key: path}."""
    os.makedirs(figure_dir, exist_ok=True)
    shown = representatives(_shown(evals))
    paths = {}
    for run in shown:
        name, label = run.spec.name, run.spec.label
        preactivated, primary = _samples(run)
        paths[name] = plots.sample_and_preactivation_grids(
            os.path.join(figure_dir, f"{name}.png"), primary, preactivated, label
        )
        if run.result["real_valued"]:
            variants = run.samples[1]
            paths[name + "_binarizations"] = plots.real_valued_variants(
                os.path.join(figure_dir, f"{name}_binarizations.png"),
                variants["raw"],
                variants["threshold"],
                variants["bernoulli"],
                label,
            )
    series = [
        (run.spec.label, _samples(run)[0])
        for experiment, neuron in HISTOGRAM
        for run in shown
        if run.configuration.matches(
            experiment=experiment,
            arch="mlp",
            neuron=neuron,
            objective="wgan-gp",
            implementation="ours",
        )
    ]
    if series:
        paths["histogram"] = plots.preactivation_histograms(
            os.path.join(figure_dir, "histogram_fig4.png"),
            series,
            "Preactivated outputs (paper Fig. 4)",
        )
    for experiment, _, _ in EXPERIMENTS:
        members = [run for run in shown if run.spec.experiment == experiment]
        if len(members) > 1:
            paths[f"samples_{experiment}"] = plots.samples_side_by_side(
                os.path.join(figure_dir, f"samples_exp_{experiment}.png"),
                [(run.spec.label, _samples(run)[1]) for run in members],
                f"Exp. {experiment}: 8x8 samples per model",
            )
    pairs = artifact_pairs(shown)
    if pairs:
        paths["artifacts_IV"] = plots.stray_pixels(
            os.path.join(figure_dir, "artifacts_exp_IV.png"),
            [(run.spec.label, _samples(run)[1]) for pair in pairs for run in pair],
            "Exp. IV: stray pixels (outside each digit's largest stroke) in red",
        )
    panels = loss_curve_panels(evals)
    if panels:
        paths["loss_curves"] = plots.loss_curves(
            os.path.join(figure_dir, "loss_curves_authors.png"),
            panels,
            "Training beside the authors' code, same configuration and budget",
        )
    # The folder is the page's own: a figure of a run no longer shown would outlive its page.
    written = {os.path.abspath(path) for path in paths.values()}
    for name in os.listdir(figure_dir):
        path = os.path.abspath(os.path.join(figure_dir, name))
        if name.endswith(".png") and path not in written:
            os.remove(path)
    return paths


def artifact_pairs(shown):
    """[(MLP run, CNN run)] of ours, each Exp. IV CNN beside the MLP its claims compare it with
    (claims.mlp_counterpart): what the paper's "less artifacts" remark compares (Sec. 4.6)."""
    pairs = []
    for cnn in shown:
        c = cnn.configuration
        if c.experiment != "IV" or c.neuron not in claims.CNN_NEURONS:
            continue
        mlp = [
            run
            for run in shown
            if run.configuration.matches(implementation="ours", **claims.mlp_counterpart(c.neuron))
        ]
        if mlp:
            pairs.append((mlp[0], cnn))
    return pairs


def _authors_configurations(authors):
    """One AuthorsRunSpec per configuration among the evaluated authors' runs (their seeds of
    one configuration are shown together), in AUTHORS_RUNS order."""
    seen, out = set(), []
    for spec in experiments.AUTHORS_RUNS:
        key = (spec.experiment, spec.arch, spec.neuron, spec.objective)
        if spec.name in authors and key not in seen:
            seen.add(key)
            out.append(spec)
    return out


def loss_curve_panels(evals):
    """[(configuration, [(label, steps, -d_loss, theirs)])] for each authors'-code run with
    a published loss curve, with every seed of ours of its configuration at its budget."""
    ours = evals.budgets.get(experiments.AUTHORS_PROFILE, {}).values()
    panels = []
    for spec in _authors_configurations(evals.authors):
        fields = dict(
            experiment=spec.experiment, arch=spec.arch, neuron=spec.neuron, objective=spec.objective
        )
        theirs = _curves(evals.authors.values(), "authors' code", fields, theirs=True)
        if theirs:
            panels.append(
                (spec.configuration_label, _curves(ours, "ours", fields, theirs=False) + theirs)
            )
    return panels


def _curves(runs, who, fields, theirs):
    """The loss curves of `runs` of the configuration `fields`, by seed, for plots.loss_curves
    (`theirs`: drawn as the authors' code's)."""
    return [
        (f"{who}, seed {r.spec.seed}", *_negated_critic_loss(r.losses), theirs)
        for r in sorted(runs, key=lambda r: r.spec.seed)
        if r.losses and r.configuration.matches(**fields)
    ]


def _negated_critic_loss(losses):
    return [step for step, _, _ in losses], [-d for _, d, _ in losses]


def parameter_counts():
    """Trainable parameters of G + D per architecture (WGAN-GP: no BN in D), built, not typed."""
    from binarygan_tf.model import networks

    counts = {}
    for arch in ("mlp", "cnn"):
        g = networks.build_generator(arch, "dbn", "code", seed=0)
        d = networks.build_discriminator(arch, False, "code", seed=0)
        counts[arch] = int(
            sum(int(np.prod(w.shape)) for w in g.trainable_weights + d.trainable_weights)
        )
    return counts


def machine_description():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import keras
    import tensorflow as tf

    return (
        f"{cpu}, {os.cpu_count()} cores visible; Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}"
    )


def _authors_commit(authors):
    """Their repository's commit(s) the runs shown were trained with."""
    return ", ".join(sorted({run.authors_commit or "unknown" for run in authors.values()}))


# ---------------------------------------------------------------- the sections
@dataclasses.dataclass
class PageContext:
    evals: object  # reproduction.Evaluations
    figures: dict  # key -> path, from write_figures
    page_dir: str
    param_counts: dict
    command: str

    def link(self, key):
        return os.path.relpath(self.figures[key], self.page_dir).replace(os.sep, "/")


def header(ctx):
    return [
        "# Results: the paper's four experiments, reproduced",
        "",
        f"Generated by `{ctx.command}` on {datetime.date.today().isoformat()}. Do not edit "
        "by hand: rerun the command. Metric definitions: [evaluation.md](evaluation.md).",
        "",
    ]


def setup(ctx):
    evals, counts = ctx.evals, ctx.param_counts
    main_runs = _in_page_order(evals, evals.main_runs)
    budgets = "; ".join(f"{PROFILES[name].budget}: {PROFILES[name].note}" for name in evals.budgets)
    lines = [
        "## Setup",
        "",
        f"- Training budgets: {budgets}. Tables, figures and wall times below are "
        f"`{evals.main.name}`'s. The paper trains 20 epochs; everything else (critic "
        "schedule, slope annealing x1.1 per epoch, optimizers, networks) is the paper's.",
    ]
    missing = [s.name for s in evals.specs if s.name not in evals.main_runs]
    if missing:
        lines.append(f"- Not yet trained at `{evals.main.name}`: {', '.join(missing)}.")
    authors = evals.authors
    if authors:
        absent = [s for s in experiments.AUTHORS_RUNS if s.name not in authors]
        lines.append(
            "- The authors' own code: "
            + "; ".join(
                s.label.removesuffix(", authors' code")
                for s in experiments.AUTHORS_RUNS
                if s.name in authors
            )
            + f", trained by `compare_authors.py` from their repository "
            f"(commit {_authors_commit(authors)}, unmodified)"
            + (
                "; not trained yet: " + "; ".join(f"`python {s.how}`" for s in absent)
                if absent
                else ""
            )
            + "."
        )
    repeated = [
        run
        for run in representatives(main_runs)
        if sum(r.configuration == run.configuration for r in main_runs) > 1
    ]
    if repeated:
        seeds = {
            run.configuration: sorted(
                r.spec.seed for r in main_runs if r.configuration == run.configuration
            )
            for run in repeated
        }
        lines.append(
            "- Seeds: "
            + "; ".join(
                f"{run.spec.label} with seeds {', '.join(map(str, seeds[run.configuration]))}"
                for run in repeated
            )
            + ". A claim uses each configuration's mean over its seeds, shows their range, "
            "and says when the seeds of one configuration spread wider than the "
            "configurations differ."
        )
    total_wall = sum(r.timing.get("wall_seconds", 0.0) for r in main_runs)
    partial = any(r.training_time[0].startswith("at least") for r in main_runs)
    lines += [
        f"- Training wall time, all {len(main_runs)} runs: "
        f"{'at least ' if partial else ''}{format_duration(total_wall)} (per "
        "run below; the runs' own wall clock, where they trained, on machines not reserved "
        "for them: controlled speed figures are in [performance.md](performance.md)).",
        f"- This page was built on: {machine_description()}.",
        f"- Evaluation: {evals.main.num_samples:,} samples per model, compared with the "
        f"{evals.num_test_images:,} binarized MNIST test digits, in the features of a "
        f"classifier with test accuracy {evals.classifier['test_accuracy']:.4f}. Pixel "
        f"density of the data: {evals.data_density:.3f}.",
        f"- Parameters (G + D, trainable): MLP {counts['mlp']:,}, CNN {counts['cnn']:,}.",
        "",
    ]
    return lines


def claims_section(ctx, rows):
    budgets = list(_columns(ctx.evals))
    lines = ["## The paper's claims, checked", ""]
    if len(ctx.evals.budgets) > 1:
        lines += [
            "One column per training budget: a claim that holds only in the longer one "
            "needs the full training.",
            "",
        ]
    if AUTHORS_COLUMN in budgets:
        lines += [
            "The last column checks the same rules on the runs of the authors' own code "
            "(unmodified, trained by `compare_authors.py`, evaluated exactly as ours); a claim "
            "needing a configuration they did not run is not measured there.",
            "",
        ]
    lines += [
        "| exp. | claim (and the rule applied) | "
        + " | ".join(column_head(b) for b in budgets)
        + " |",
        "|---|---|" + "---|" * len(budgets),
    ]
    lines += [
        f"| {row.experiment} | {row.claim} | "
        + " | ".join(_verdict_cell(row.verdicts[b]) for b in budgets)
        + " |"
        for row in rows
    ]
    return lines + [""] + _not_holding(ctx, rows)


def _not_holding(ctx, rows):
    """The main budget's claims that do not hold, each with what was checked on our side."""
    main = ctx.evals.main.name
    failed = [row for row in rows if row.verdicts[main].holds is False]
    if not failed:
        return []
    authors = AUTHORS_COLUMN in _columns(ctx.evals)
    lines = [
        f"Claims that do not hold at `{main}`, and what rules out a defect on our side:",
        "",
    ]
    for row in failed:
        verdict = row.verdicts[main]
        mirror = row.verdicts.get(AUTHORS_COLUMN) if authors else None
        theirs = (
            f" On the authors' own code: {_verdict_cell(mirror)}."
            if mirror is not None and mirror.holds is not None
            else ""
        )
        lines.append(
            f"- Exp. {row.experiment}, {row.claim}: {verdict.evidence}."
            + (f" Checked: {verdict.checked}." if verdict.checked else "")
            + theirs
        )
    return lines + [""]


def authors_section(ctx):
    """Each authors'-code run beside our run(s) of the same configuration (ours: mean and
    range over seeds), in the numbers a reader compares first."""
    authors = ctx.evals.authors
    if not authors:
        return []
    ours = [
        (r.configuration, r.spec.seed, r.result)
        for r in ctx.evals.budgets.get(experiments.AUTHORS_PROFILE, {}).values()
    ]
    measured = claims.Measurements(ours)
    metrics = (
        ("FD", claims.frechet_distance, "{:.2f}"),
        ("recall", claims.recall, "{:.3f}"),
        ("notch ratio", claims.notch_ratio, "{:.2f}"),
        ("end mass", claims.end_mass, "{:.3f}"),
    )
    lines = [
        "## Ours beside the authors' code",
        "",
        f"Same configuration, same data, same budget ({PROFILES[experiments.AUTHORS_PROFILE].budget}),"
        " same evaluation; their code is the unmodified repository run by `compare_authors.py` "
        "(docs/authors_code.md), its generator exported in our contract. Where a side has "
        "several seeds: their mean (range in brackets).",
        "",
        "| configuration | code | " + " | ".join(name for name, _, _ in metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]
    theirs_measured = claims.Measurements(
        [(r.configuration, r.spec.seed, r.result) for r in authors.values()]
    )
    for spec in _authors_configurations(authors):
        fields = dict(
            experiment=spec.experiment,
            arch=spec.arch,
            neuron=spec.neuron,
            objective=spec.objective,
            follow=spec.follow,
        )
        label = spec.configuration_label
        rows = {"ours": measured, "authors'": theirs_measured}
        for code, source in rows.items():
            spreads = [source.spread(metric, **fields) for _, metric, _ in metrics]
            if spreads[0] is None:
                cells = ["not trained yet"] + [""] * (len(metrics) - 1)
            else:
                cells = [
                    spread.text(fmt).replace("mean ", "").replace("range ", "")
                    for spread, (_, _, fmt) in zip(spreads, metrics, strict=True)
                ]
            lines.append(f"| {label} | {code} | " + " | ".join(cells) + " |")
    if "loss_curves" in ctx.figures:
        lines += [
            "",
            "How they trained: the critic's loss, negated, as the mean of each epoch (under WGAN "
            "the critic's estimate of the Wasserstein distance; under WGAN-GP minus the "
            "penalty), ours per seed (dashed) and theirs (solid; their `logs/batch.log`, the "
            "loss fetched with each generator update).",
            "",
            f"![loss curves]({ctx.link('loss_curves')})",
        ]
    return lines + [""]


def histogram_section(ctx):
    if "histogram" not in ctx.figures:
        return []
    return [
        "## Preactivated outputs (paper Fig. 4)",
        "",
        "| ours | paper |",
        "|---|---|",
        f"| ![ours]({ctx.link('histogram')}) | ![paper]({PAPER_FIGURES}histogram.png) |",
        "",
    ]


def experiment_section(ctx, experiment, title, paper_figures):
    evals = ctx.evals
    members = [r for r in _shown(evals) if r.spec.experiment == experiment]
    if not members:
        return []
    lines = [f"## {title}", ""]
    if f"samples_{experiment}" in ctx.figures:
        lines += [f"![Exp. {experiment} samples]({ctx.link(f'samples_{experiment}')})", ""]
    if f"artifacts_{experiment}" in ctx.figures:
        lines += [
            'The paper\'s "less artifacts" (Sec. 4.6), measured: each MLP beside the CNN with '
            "the same neuron, same z, the pixels outside each digit's largest 8-connected "
            "stroke in red (the stray-pixel measure of the claims; real digits: "
            f"{formatting.number(ctx.evals.reference.get('stray_pixel_share'), '{:.3f}')}).",
            "",
            f"![Exp. {experiment} artifacts]({ctx.link(f'artifacts_{experiment}')})",
            "",
        ]
    if paper_figures:
        lines += [
            "The paper's (the authors' published figures, linked): "
            + " ".join(f"![{p}]({PAPER_FIGURES}{p}.png)" for p in paper_figures),
            "",
        ]
    shown = [r.spec for r in representatives(members)]
    ours = [f"![{s.label}]({ctx.link(s.name)})" for s in shown]
    ours += [
        f"![{s.label}, binarizations]({ctx.link(s.name + '_binarizations')})"
        for s in shown
        if s.name + "_binarizations" in ctx.figures
    ]
    lines += [
        "Samples beside their preactivated outputs (same z"
        + (
            "; one seed per configuration, every seed in the table"
            if len(shown) < len(members)
            else ""
        )
        + "):",
        "",
    ]
    lines += [o + "  " for o in ours] + [""]
    table = {
        "reference": evals.reference,
        "models": [dict(r.result, label=r.spec.label) for r in members],
    }
    return lines + [evaluation.markdown_table(table), ""]


def wall_time_section(ctx):
    lines = [
        "## Wall time per run",
        "",
        "| run | generator steps | wall time | s / step | trained by commit |",
        "|---|---|---|---|---|",
    ]
    for run in _shown(ctx.evals):
        steps = run.timing.get("steps") or 0
        wall, per_step = run.training_time
        lines.append(f"| {run.spec.label} | {steps:,} | {wall} | {per_step} | {run.trained_by} |")
    return lines + [""]


def footer(ctx):
    return [
        "Regenerate this page (finished runs and published generators in models/ are "
        "reused, cut-off runs resume):",
        "",
        "```",
        ctx.command,
        "```",
        "",
    ]


def write_page(path, evals, command, figure_dir):
    """Write the page and its figures; returns its claim rows."""
    counts = parameter_counts()
    ctx = PageContext(
        evals,
        write_figures(evals, figure_dir),
        os.path.dirname(os.path.abspath(path)),
        counts,
        command,
    )
    rows = claim_rows(evals, counts)
    sections = [
        header(ctx),
        setup(ctx),
        claims_section(ctx, rows),
        authors_section(ctx),
        histogram_section(ctx),
        *(experiment_section(ctx, *experiment) for experiment in EXPERIMENTS),
        wall_time_section(ctx),
        footer(ctx),
    ]
    files.atomic_write_text(path, "\n".join(line for section in sections for line in section))
    return rows
