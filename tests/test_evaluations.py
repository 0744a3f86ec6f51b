"""evaluations.py: which training budget fills the page's tables and figures."""

from binarygan_tf.reproduction import evaluations, experiments


def test_main_budget_is_paper_once_it_has_every_run():
    paper, quick = experiments.PROFILES["paper"], experiments.PROFILES["quick"]
    assert evaluations.main_budget(quick, {"quick": 15, "paper": 15}, 15) is paper
    assert evaluations.main_budget(quick, {"quick": 15, "paper": 14}, 15) is quick
    assert evaluations.main_budget(paper, {"quick": 15, "paper": 3}, 15) is paper
    smoke = experiments.PROFILES["smoke"]
    assert evaluations.main_budget(smoke, {"smoke": 2}, 2) is smoke
