"""What the results page takes from the paper itself: its experiments in the order the page
shows them, and the authors' published figures each one is put beside.

These are facts about the paper (section numbers, figure names, the URL of its figures), not
about our runs, so they live apart from the code that measures runs and writes the page: a
reader checking the page against the paper finds them all here.
"""

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
