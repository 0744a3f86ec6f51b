"""The results page's figures: which plots of which runs, drawn into the page's figure folder.

Each figure is drawn from the main budget's evaluated runs (run_choice.shown), one run per
configuration; evaluation/plots.py draws them. The folder belongs to the page, so a figure of
a run the page no longer shows is removed with it. The page (page.py) links each figure by the
key write_figures returns, and writes a section's figure only when its key is there.
"""

import os

from binarygan_tf.evaluation import plots
from binarygan_tf.reproduction import experiments, run_choice
from binarygan_tf.reproduction.paper import EXPERIMENTS, HISTOGRAM
from binarygan_tf.training import run_directory


def samples(run):
    """(preactivated outputs, the binary samples the claims measure) of an evaluated run."""
    preactivated, variants = run.samples
    return preactivated, variants.get("binary", variants.get("threshold"))


def write_figures(evals, figure_dir):
    """Figures of the page (main budget), into `figure_dir`; returns {key: path}."""
    os.makedirs(figure_dir, exist_ok=True)
    shown = run_choice.representatives(run_choice.shown(evals))
    paths = {}
    for run in shown:
        name, label = run.spec.name, run.spec.label
        preactivated, primary = samples(run)
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
        (run.spec.label, samples(run)[0])
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
                [(run.spec.label, samples(run)[1]) for run in members],
                f"Exp. {experiment}: 8x8 samples per model",
            )
    pairs = run_choice.artifact_pairs(shown)
    if pairs:
        paths["artifacts_IV"] = plots.stray_pixels(
            os.path.join(figure_dir, "artifacts_exp_IV.png"),
            [(run.spec.label, samples(run)[1]) for pair in pairs for run in pair],
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


def loss_curve_panels(evals):
    """[(configuration, [(label, steps, -d_loss, theirs, quantity)])] for each authors'-code
    run with a published loss curve, with every seed of ours of its configuration at its
    budget. `quantity` is which critic loss the curve holds (run_directory.LossCurve): the
    figure draws the two apart (plots.curve_style), never one as the other."""
    ours = evals.budgets.get(experiments.AUTHORS_PROFILE, {}).values()
    panels = []
    for spec in run_choice.authors_configurations(evals.authors):
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
        (f"{who}, seed {r.spec.seed}", *_negated_critic_loss(r.losses), theirs, _quantity(r))
        for r in sorted(runs, key=lambda r: r.spec.seed)
        if r.losses and r.configuration.matches(**fields)
    ]


def _quantity(run):
    """Which critic loss a run's curve holds: publishing.read_losses says (a LossCurve); a
    plain list is one of ours, the loss before the last critic update."""
    return getattr(run.losses, "quantity", run_directory.CRITIC_LOSS_BEFORE_UPDATE)


def _negated_critic_loss(losses):
    return [step for step, _, _ in losses], [-d for _, d, _ in losses]
