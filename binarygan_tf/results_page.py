"""docs/results.md, generated: figures beside the paper's, metric tables, and a verdict per claim.

The page is written only from measured numbers. Each of the paper's claims becomes a rule
stated on the page (e.g. "similar quality: Frechet distances within a factor 1.5"), and the
verdict is whatever the numbers give, including "does not hold".
"""

import datetime
import os
import platform

import numpy as np

from binarygan_tf import evaluation, plots

PAPER_FIGURES = "https://salu133445.github.io/binarygan/figs/"  # the authors' published figures
SIMILAR_FACTOR = 1.5  # "similar quality": Frechet distances within this factor of each other
NOTCH_BELOW = 0.9  # "a notch at 0.5": density in [0.45, 0.55] under 0.9x its neighbours'


# ---------------------------------------------------------------- reading the evaluations
def quality(evals, name):
    """Metrics of the run's binary output (the real-valued model: thresholded at 0.5)."""
    result = evals["runs"][name][0]
    variants = result["variants"]
    return variants["binary"] if "binary" in variants else variants["threshold"]


def shape(evals, name):
    return evals["runs"][name][0]["preactivation"]


def _verdict(ok):
    return "**holds**" if ok else "**does not hold**"


def _ratio(a, b):
    return max(a, b) / max(min(a, b), 1e-12)


def claims(evals, param_counts):
    """[(experiment, claim, holds, evidence)] for the claims whose runs are all present."""
    have = set(evals["runs"])
    out = []

    def fd(name):
        return quality(evals, name)["frechet_distance"]

    if {"exp1_mlp_dbn", "exp1_mlp_sbn"} <= have:
        a, b = fd("exp1_mlp_dbn"), fd("exp1_mlp_sbn")
        out.append(("I", "DBN and SBN reach similar quality "
                    f"(Frechet distances within a factor {SIMILAR_FACTOR})",
                    _ratio(a, b) <= SIMILAR_FACTOR,
                    f"FD DBN {a:.2f}, SBN {b:.2f} (factor {_ratio(a, b):.2f})"))
        d, s = shape(evals, "exp1_mlp_dbn"), shape(evals, "exp1_mlp_sbn")
        out.append(("I", "DBN preactivations are flatter, SBN's have more mass near 0 and 1 "
                    "(end mass: share < 0.05 or > 0.95)", s["end_mass"] > d["end_mass"],
                    f"end mass DBN {d['end_mass']:.3f}, SBN {s['end_mass']:.3f}"))
        out.append(("I", f"DBN preactivations have a notch at 0.5 (notch ratio < {NOTCH_BELOW})",
                    _num(d["notch_ratio"]) < NOTCH_BELOW,
                    f"notch ratio DBN {_fmt(d['notch_ratio'])} (narrow band "
                    f"{_fmt(d['narrow_notch_ratio'])}), SBN {_fmt(s['notch_ratio'])}"))
    if {"exp2_mlp_real", "exp1_mlp_sbn"} <= have:
        r, s = shape(evals, "exp2_mlp_real"), shape(evals, "exp1_mlp_sbn")
        out.append(("II", "the real-valued model's histogram is more U-shaped than SBN's "
                    "(more end mass)", r["end_mass"] > s["end_mass"],
                    f"end mass real-valued {r['end_mass']:.3f}, SBN {s['end_mass']:.3f}"))
        out.append(("II", f"the real-valued model's histogram has no notch at 0.5 (notch ratio "
                    f">= {NOTCH_BELOW})", _num(r["notch_ratio"], 1.0) >= NOTCH_BELOW,
                    f"notch ratio real-valued {_fmt(r['notch_ratio'])}"))
    for neuron, wgan, gp in _per_neuron(have, "exp3_mlp_{}_wgan", "exp1_mlp_{}"):
        a, b = fd(wgan), fd(gp)
        out.append(("III", f"{neuron}: WGAN reaches quality similar to WGAN-GP "
                    f"(FD within a factor {SIMILAR_FACTOR})", _ratio(a, b) <= SIMILAR_FACTOR,
                    f"FD WGAN {a:.2f}, WGAN-GP {b:.2f} (factor {_ratio(a, b):.2f})"))
    for neuron, gan, gp in _per_neuron(have, "exp3_mlp_{}_gan", "exp1_mlp_{}"):
        g, w = quality(evals, gan), quality(evals, gp)
        collapsed = g["recall"] < w["recall"] and g["kl_to_uniform"] > w["kl_to_uniform"]
        out.append(("III", f"{neuron}: the GAN objective collapses modes (lower recall and "
                    "classes further from uniform than WGAN-GP)", collapsed,
                    f"recall GAN {g['recall']:.3f} vs WGAN-GP {w['recall']:.3f}; KL to "
                    f"uniform {g['kl_to_uniform']:.3f} vs {w['kl_to_uniform']:.3f}; max "
                    f"class share {g['max_class_share']:.3f} vs {w['max_class_share']:.3f}"))
    for neuron, cnn, mlp in _per_neuron(have, "exp4_cnn_{}", "exp1_mlp_{}"):
        a, b = fd(cnn), fd(mlp)
        out.append(("IV", f"{neuron}: the CNN beats the MLP (lower FD) with fewer parameters "
                    f"({param_counts['cnn']:,} vs {param_counts['mlp']:,})",
                    a < b and param_counts["cnn"] < param_counts["mlp"],
                    f"FD CNN {a:.2f}, MLP {b:.2f}"))
    return out


def _per_neuron(have, first, second):
    """(DBN/SBN, run, run) for each neuron whose two runs (name templates) are both present."""
    for neuron in ("dbn", "sbn"):
        a, b = first.format(neuron), second.format(neuron)
        if {a, b} <= have:
            yield neuron.upper(), a, b


def _num(value, default=float("nan")):
    return default if value is None else value


def _fmt(value):
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) \
        else f"{value:.2f}"


def parameter_counts():
    """Trainable parameters of G + D per architecture (WGAN-GP: no BN in D), built, not typed."""
    from binarygan_tf import networks

    counts = {}
    for arch in ("mlp", "cnn"):
        g = networks.build_generator(arch, "dbn", "code", seed=0)
        d = networks.build_discriminator(arch, False, "code", seed=0)
        counts[arch] = int(sum(int(np.prod(w.shape)) for w in g.trainable_weights + d.trainable_weights))
    return counts


# ---------------------------------------------------------------- figures
def write_figures(evals, specs, figure_dir):
    """Figures of the page, into `figure_dir`; returns {key: path}."""
    os.makedirs(figure_dir, exist_ok=True)
    paths = {}
    runs = evals["runs"]
    for spec in specs:
        if spec.name not in runs:
            continue
        result, preactivated, variants = runs[spec.name]
        primary = variants.get("binary", variants.get("threshold"))
        paths[spec.name] = plots.sample_and_preactivation_grids(
            os.path.join(figure_dir, f"{spec.name}.png"), primary, preactivated, spec.label)
        if result["real_valued"]:
            paths[spec.name + "_binarizations"] = plots.real_valued_variants(
                os.path.join(figure_dir, f"{spec.name}_binarizations.png"), variants["raw"],
                variants["threshold"], variants["bernoulli"], spec.label)
    fig4 = [(label, name) for label, name in (("DBN", "exp1_mlp_dbn"), ("SBN", "exp1_mlp_sbn"),
                                               ("real-valued", "exp2_mlp_real")) if name in runs]
    if fig4:
        paths["histogram"] = plots.preactivation_histograms(
            os.path.join(figure_dir, "histogram_fig4.png"),
            [(f"MLP {label}, WGAN-GP", runs[name][1]) for label, name in fig4],
            "Preactivated outputs (paper Fig. 4)")
    by_experiment = {}
    for spec in specs:
        if spec.name in runs:
            by_experiment.setdefault(spec.experiment, []).append(spec)
    for experiment, members in by_experiment.items():
        if len(members) > 1:
            grids = [(s.label, runs[s.name][2].get("binary", runs[s.name][2].get("threshold")))
                     for s in members]
            paths[f"samples_{experiment}"] = plots.samples_side_by_side(
                os.path.join(figure_dir, f"samples_exp_{experiment}.png"), grids,
                f"Exp. {experiment}: 8x8 samples per model")
    return paths


# ---------------------------------------------------------------- the page
EXPERIMENTS = (
    ("I", "Exp. I: deterministic vs stochastic binary neurons (MLP, WGAN-GP; paper Sec. 4.3, "
          "Fig. 3-4)", ("mlp_dbn", "mlp_sbn", "colored_dbn", "colored_sbn")),
    ("II", "Exp. II: the real-valued model, binarized after training (MLP, WGAN-GP; paper "
           "Sec. 4.4, Fig. 4-5)", ("mlp_real", "mlp_real_round", "mlp_real_bernoulli")),
    ("III", "Exp. III: GAN and WGAN objectives (MLP; paper Sec. 4.5, Fig. 6)",
     ("mlp_dbn_wgan", "mlp_sbn_wgan", "mlp_dbn_gan", "mlp_sbn_gan")),
    ("IV", "Exp. IV: convolutional networks (WGAN-GP; paper Sec. 4.6, Fig. 7)",
     ("cnn_dbn", "cnn_sbn")),
    ("extra", "Beyond the paper: the paper's batch norm instead of the authors' code's "
              "(docs/authors_code.md)", ()),
)


def _rel(path, page_dir):
    return os.path.relpath(path, page_dir).replace(os.sep, "/")


def metrics_table(evals, specs):
    results = {"reference": evals["reference"],
               "models": [dict(evals["runs"][s.name][0], label=s.label) for s in specs
                          if s.name in evals["runs"]]}
    return evaluation.markdown_table(results)


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

    return (f"{cpu}, {os.cpu_count()} cores visible; Python {platform.python_version()}, "
            f"TensorFlow {tf.__version__}, Keras {keras.__version__}")


def write_page(path, evals, specs, profile, timings, command, figure_dir):
    from binarygan_tf import reproduction

    page_dir = os.path.dirname(os.path.abspath(path))
    figures = write_figures(evals, specs, figure_dir)
    counts = parameter_counts()
    verdicts = claims(evals, counts)
    total_wall = sum(t["wall_seconds"] for t in timings.values())
    clf = evals["classifier"]
    lines = [
        "# Results: the paper's four experiments, reproduced",
        "",
        f"Generated by `{command}` on {datetime.date.today().isoformat()}. "
        "Do not edit by hand: rerun the command. Metric definitions: "
        "[evaluation.md](evaluation.md).",
        "",
        "## Setup",
        "",
        f"- Profile `{profile.name}`: {profile.note}. The paper trains 20 epochs; "
        "everything else (critic schedule, slope annealing x1.1 per epoch, optimizers, "
        "networks) is the paper's.",
        f"- Machine: {machine_description()}.",
        f"- Training wall time, all {len(timings)} runs: {reproduction.format_duration(total_wall)}"
        " (per run below; the runs' own wall clock, on a machine not reserved for them: "
        "controlled speed figures are in [performance.md](performance.md)).",
        f"- Evaluation: {profile.num_samples:,} samples per model, compared with the "
        f"{evals['num_test_images']:,} binarized MNIST test digits, in the features of a classifier with test accuracy "
        f"{clf['test_accuracy']:.4f}. Pixel density of the data: {evals['data_density']:.3f}.",
        "- Parameters (G + D, trainable): "
        f"MLP {counts['mlp']:,}, CNN {counts['cnn']:,}.",
        "",
        "## The paper's claims, checked",
        "",
        "| exp. | claim (and the rule applied) | verdict | numbers |",
        "|---|---|---|---|",
    ]
    for experiment, claim, ok, evidence in verdicts:
        lines.append(f"| {experiment} | {claim} | {_verdict(ok)} | {evidence} |")
    lines.append("")
    if "histogram" in figures:
        lines += ["## Preactivated outputs (paper Fig. 4)", "",
                  "| ours | paper |", "|---|---|",
                  f"| ![ours]({_rel(figures['histogram'], page_dir)}) | "
                  f"![paper]({PAPER_FIGURES}histogram.png) |", ""]
    for experiment, title, paper_figs in EXPERIMENTS:
        members = [s for s in specs if s.experiment == experiment and s.name in evals["runs"]]
        if not members:
            continue
        lines += [f"## {title}", ""]
        if f"samples_{experiment}" in figures:
            lines += [f"![Exp. {experiment} samples]"
                      f"({_rel(figures[f'samples_{experiment}'], page_dir)})", ""]
        if paper_figs:
            lines += ["The paper's (the authors' published figures, linked): "
                      + " ".join(f"![{p}]({PAPER_FIGURES}{p}.png)" for p in paper_figs), ""]
        ours = [f"![{s.label}]({_rel(figures[s.name], page_dir)})" for s in members]
        ours += [f"![{s.label}, binarizations]({_rel(figures[s.name + '_binarizations'], page_dir)})"
                 for s in members if s.name + "_binarizations" in figures]
        lines += ["Samples beside their preactivated outputs (same z):", ""]
        lines += [o + "  " for o in ours] + [""]
        lines += [metrics_table(evals, members), ""]
    lines += ["## Wall time per run", "", "| run | generator steps | wall time | s / step |",
              "|---|---|---|---|"]
    for spec in specs:
        if spec.name in timings:
            t = timings[spec.name]
            lines.append(f"| {spec.label} | {t['steps']:,} | "
                         f"{reproduction.format_duration(t['wall_seconds'])} | "
                         f"{t['wall_seconds'] / max(t['steps'], 1):.4f} |")
    lines += ["", "Regenerate this page (finished runs are reused, cut-off runs resume):", "",
              "```", command, "```", ""]
    os.makedirs(page_dir, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines))
    os.replace(tmp, path)
    return verdicts
