"""reproduce.py --jobs (issue #25, point 2): runs side by side, each in a child process pinned
to its own share of the cores (reproduction/pinned_runs.py), longest first, with an ETA that is
the wall time of that schedule; a bad --jobs is one line; Ctrl-C is passed on once."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from binarygan_tf import formatting
from binarygan_tf.errors import UserError
from binarygan_tf.reproduction import job as reproduction
from binarygan_tf.reproduction import pinned_runs, progress
from binarygan_tf.training import run_directory
from tests import helpers

CORES = pinned_runs.usable_cores()
PAPER_STEPS = 70_000 // 64 * 20  # 21,860 generator steps per run of the paper's profile


# ------------------------------------------------------------------ the schedule and its ETA
def test_greedy_makespan_of_a_hand_computed_example():
    # longest first on 2 slots: 3 | 3, then 3 -> A (6), the four 1s -> B (4, 5, 6), then A (7)
    assert progress.makespan([3, 3, 3, 1, 1, 1, 1], 2) == 7
    assert progress.makespan([3, 3, 3, 1, 1, 1, 1], 1) == 13  # one slot: the sum
    assert progress.makespan([1, 1, 1, 1, 3, 3, 3], 2) == 8  # shortest first ends later
    assert progress.makespan([2, 2], 2, busy=[5]) == 5  # a slot busy for 5 s more
    assert progress.makespan([], 3) == 0
    order = progress.longest_first(
        ["a", "b", "c", "d", "e"], {"a": 1, "b": 3, "c": 2, "d": 3, "e": 1}.get
    )
    assert order == ["b", "d", "c", "a", "e"]  # equal costs keep their order


def test_priors_at_a_concurrency(monkeypatch):
    monkeypatch.setattr(progress, "SIDE_BY_SIDE_FACTOR", 1.6)  # hand-computed numbers below
    assert progress.EtaClock().seconds_per_step("cnn") == 0.36
    assert progress.EtaClock(2).seconds_per_step("mlp") == pytest.approx(0.045 * 1.6)
    clock = progress.EtaClock(2)
    clock.record("mlp", 100, 5.0)
    assert clock.seconds_per_step("mlp") == 0.05  # its own measurement replaces the prior
    assert clock.cost("cnn", 10) == pytest.approx(10 * 0.36 * 1.6)


class FakeQueue:
    """pinned_runs.run_queue without processes: plays a script of starts and finishes
    through the job's callbacks, and writes what a child would have left behind."""

    def __init__(self, script, outcome):
        self.script, self.outcome = script, outcome
        self.children = self.slots = None

    def __call__(self, children, slots, on_start, on_finish, **_):
        self.children, self.slots = children, slots
        by_name = {c.name: c for c in children}
        for action, name, *rest in self.script:
            child = by_name[name]
            if action == "start":
                on_start(child, (0,))
            else:
                outcome, returncode, before_finish = rest
                before_finish(child)
                on_finish(pinned_runs.Finished(child, outcome, returncode, 12.5, (0,)))
        return self.outcome


def _trained_by_child(seconds):
    """What a child that trained the whole run in `seconds` leaves: its exported generator's
    metadata at the target step and its session in timing.json."""

    def write(child):
        run_dir = child.data.config.run_dir
        os.makedirs(os.path.join(run_dir, "generator"), exist_ok=True)
        with open(os.path.join(run_dir, "generator", "binarygan.json"), "w") as f:
            json.dump({"generator_step": PAPER_STEPS}, f)
        with open(os.path.join(run_dir, run_directory.TIMING_FILE), "w") as f:
            json.dump({"wall_seconds": seconds, "sessions": 1}, f)

    return write


def test_longest_first_eta_of_the_schedule_and_each_outcome(tmp_path, monkeypatch):
    """Paper budget, 2 at a time, the cost of a step x1.6 (the side-by-side prior): CNN
    12,591 s (21,860 x 0.576), MLP 1,574 s (21,860 x 0.072). Longest first: both CNN runs
    start, the MLP run follows on the first free slot: 14,165 s = 3 h 56 min, not the sum
    (7 h 25 min). Once a CNN run is measured at 0.5 s/step the rest is 10,930 s."""
    monkeypatch.setattr(progress, "SIDE_BY_SIDE_FACTOR", 1.6)  # the numbers above
    job = reproduction.plan_job(
        profile="paper",
        only=["exp1_mlp_dbn", "exp1_mlp_sbn", "exp4_cnn_dbn", "exp4_cnn_sbn"],
        runs_dir=str(tmp_path / "runs"),
        models_dir=str(tmp_path / "models"),
        authors_runs_dir=str(tmp_path / "no_authors_runs"),
        mnist_dir=str(tmp_path / "mnist"),
        jobs=2,
    )
    nothing = lambda child: None  # noqa: E731 - a child that left nothing behind
    queue = FakeQueue(
        [
            ("start", "exp4_cnn_dbn"),
            ("start", "exp4_cnn_sbn"),
            ("finish", "exp4_cnn_dbn", pinned_runs.DONE, 0, _trained_by_child(0.5 * PAPER_STEPS)),
            ("start", "exp1_mlp_dbn"),
            ("finish", "exp1_mlp_dbn", pinned_runs.DONE, 0, nothing),
            ("finish", "exp4_cnn_sbn", pinned_runs.FAILED, 1, nothing),
        ],
        pinned_runs.FAILED,
    )
    monkeypatch.setattr(pinned_runs, "run_queue", queue)
    published = []
    monkeypatch.setattr(
        reproduction.publishing, "publish", lambda run_dir, to: published.append(to) or True
    )
    lines = []
    with run_directory.hold(str(tmp_path / "runs" / "exp1_mlp_sbn")):  # another process's
        status = reproduction.train_side_by_side(job, 70_000, lines.append)
    text = "\n".join(lines)
    assert status == "failed"
    # the held run is left alone; the others go longest first, 2 at a time
    assert "exp1_mlp_sbn (MLP SBN, WGAN-GP): being trained by another process (pid" in text
    assert [c.name for c in queue.children] == ["exp4_cnn_dbn", "exp4_cnn_sbn", "exp1_mlp_dbn"]
    assert queue.slots == 2
    cnn, mlp = PAPER_STEPS * 0.36 * 1.6, PAPER_STEPS * 0.045 * 1.6
    assert progress.makespan([cnn, cnn, mlp], 2) == pytest.approx(14_165.28)
    assert formatting.duration(14_165.28) == "3 h 56 min"
    assert lines[1].startswith("training 3 run(s) 2 at a time in child processes, longest")
    assert lines[1].endswith("ETA for the remaining 3 run(s), 2 at a time: 3 h 56 min")
    # after the first CNN run, measured at 0.5 s/step: the other CNN run (10,930 s) beside
    # the MLP run (1,574 s)
    after = next(line for line in lines if "exp4_cnn_dbn (CNN DBN, WGAN-GP): published" in line)
    assert after.endswith("ETA for the remaining 2 run(s), 2 at a time: 3 h 02 min"), after
    mlp_start = next(line for line in lines if "exp1_mlp_dbn (MLP DBN, WGAN-GP): starting" in line)
    assert mlp_start.endswith("ETA for the remaining 2 run(s), 2 at a time: 3 h 02 min")
    assert published == [job.published(job.specs[2])]  # only the finished run
    # a child that ended well without training it (another process held it), one that failed
    log_of = {c.name: c.log_path for c in queue.children}
    assert "exp1_mlp_dbn (MLP DBN, WGAN-GP): not trained by its child (12.5 min; see " in text
    assert (
        f"exp4_cnn_sbn (CNN SBN, WGAN-GP): FAILED (exit status 1) after 12.5 min; see "
        f"{log_of['exp4_cnn_sbn']}. Going on with the others." in text
    )
    assert log_of["exp4_cnn_sbn"] == str(tmp_path / "runs" / "exp4_cnn_sbn.log")
    # each child: this job's run alone, trained only, the same folders and data
    command = queue.children[0].command
    assert command[1:4] == ["-m", "binarygan_tf", "reproduce"]
    for flag in (
        "--profile=paper",
        "--only=exp4_cnn_dbn",
        "--stage=train",
        "--jobs=1",
        f"--runs_dir={tmp_path / 'runs'}",
        f"--models_dir={tmp_path / 'models'}",
        f"--mnist_dir={tmp_path / 'mnist'}",
        "--classifier=published",
    ):
        assert flag in command, flag


def test_an_interrupted_queue_is_an_interrupted_job(tmp_path, monkeypatch):
    job = reproduction.plan_job(
        profile="smoke", only=["exp1_mlp_dbn", "exp1_mlp_sbn"], runs_dir=str(tmp_path), jobs=2
    )
    queue = FakeQueue(
        [
            ("start", "exp1_mlp_dbn"),
            ("start", "exp1_mlp_sbn"),
            ("finish", "exp1_mlp_dbn", pinned_runs.INTERRUPTED, 130, lambda c: None),
            ("finish", "exp1_mlp_sbn", pinned_runs.INTERRUPTED, 130, lambda c: None),
        ],
        pinned_runs.INTERRUPTED,
    )
    monkeypatch.setattr(pinned_runs, "run_queue", queue)
    lines = []
    assert reproduction.train_side_by_side(job, 160, lines.append) == "interrupted"
    assert sum("stopped after 12.5 min; its checkpoint is kept." in line for line in lines) == 2


# ------------------------------------------------------------------ the pinning
def test_shares_are_disjoint_cover_the_cores_and_differ_by_one_at_most():
    assert pinned_runs.shares([0, 1], 2) == [(0,), (1,)]
    assert pinned_runs.shares([0, 1], 1) == [(0, 1)]
    assert pinned_runs.shares([3, 0, 2, 1], 3) == [(0, 1), (2,), (3,)]
    assert pinned_runs.shares([4, 6, 8, 10, 12, 14, 16], 3) == [(4, 6, 8), (10, 12), (14, 16)]
    for cores in (1, 2, 5, 8):
        for jobs in range(1, cores + 1):
            split = pinned_runs.shares(range(cores), jobs)
            flat = [c for share in split for c in share]
            assert sorted(flat) == list(range(cores)) and len(set(flat)) == cores
            assert max(map(len, split)) - min(map(len, split)) <= 1
    for bad in (0, -1, 3):
        with pytest.raises(UserError, match=f"jobs={bad}"):
            pinned_runs.shares([0, 1], bad)
    env = pinned_runs.child_environment((2, 3), {"A": "1"}, base={"TF_NUM_INTRAOP_THREADS": "8"})
    assert env == {"A": "1", "TF_NUM_INTRAOP_THREADS": "2"}
    assert "TF_NUM_INTEROP_THREADS" not in env  # TensorFlow's default


def test_each_child_runs_on_its_own_share_with_as_many_intra_op_threads(tmp_path):
    """As many children as usable cores, started at once: each sees only its own cores and
    TF_NUM_INTRAOP_THREADS equal to their count; together they cover the usable cores."""
    report = (
        "import json, os; print(json.dumps({'cores': sorted(os.sched_getaffinity(0)), "
        "'threads': os.environ.get('TF_NUM_INTRAOP_THREADS')}))"
    )
    children = [
        pinned_runs.Child(f"child {i}", [sys.executable, "-c", report], str(tmp_path / f"{i}.log"))
        for i in range(len(CORES))
    ]
    starts, ends = [], []
    outcome = pinned_runs.run_queue(
        children,
        len(CORES),
        on_start=lambda child, share: starts.append((child.name, share)),
        on_finish=ends.append,
        poll_seconds=0.05,
    )
    assert outcome == "done" and [f.outcome for f in ends] == ["done"] * len(CORES)
    seen = []
    for i, (name, share) in enumerate(starts):
        header, body = (tmp_path / f"{i}.log").read_text().lstrip("\n").split("\n", 1)
        assert header.startswith("=== ") and f"{name} on core" in header
        child = json.loads(body)
        assert child == {"cores": list(share), "threads": str(len(share))}
        seen += child["cores"]
    assert sorted(seen) == CORES  # disjoint and covering


def test_a_failed_child_is_reported_with_its_log_and_the_others_go_on(tmp_path):
    children = [
        pinned_runs.Child(name, [sys.executable, "-c", f"import sys; sys.exit({status})"], log)
        for name, status, log in (
            ("bad", 3, str(tmp_path / "bad.log")),
            ("good", 0, str(tmp_path / "good.log")),
        )
    ]
    lines = []
    outcome = pinned_runs.run_queue(children, 1, log=lines.append, poll_seconds=0.05)
    assert outcome == "failed"
    assert lines[0] == f"started bad on {pinned_runs.cores_text(CORES)}"
    assert lines[1].startswith("bad failed (exit status 3) after 0.")
    assert lines[1].endswith(f"min; see {tmp_path / 'bad.log'}")
    assert lines[2].startswith("started good") and lines[3].startswith("finished good in 0.")


# ------------------------------------------------------------------ Ctrl-C
PARENT = textwrap.dedent(
    """
    import sys
    from binarygan_tf.reproduction import pinned_runs

    out, count = sys.argv[1], int(sys.argv[2])
    child = '''
    import os, signal, sys, time
    name = sys.argv[1]
    def stop(signum, frame):
        with open(name + ".signals", "a") as f:
            f.write(f"{signum}\\\\n")
        time.sleep(1.0)  # a checkpoint being written: a second signal would land here
        sys.exit(130)
    signal.signal(signal.SIGINT, stop)
    open(name + ".ready", "w").write(str(os.getpid()))
    time.sleep(60)
    '''
    children = [
        pinned_runs.Child(f"c{i}", [sys.executable, "-c", child, f"{out}/c{i}"], f"{out}/c{i}.log")
        for i in range(count + 1)
    ]
    print(pinned_runs.run_queue(children, count, poll_seconds=0.05), flush=True)
    """
)


def test_ctrl_c_is_passed_on_once_and_the_queue_is_interrupted(tmp_path):
    count = len(CORES)
    proc = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path), str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": helpers.ROOT},
    )
    ready = [tmp_path / f"c{i}.ready" for i in range(count)]
    deadline = time.time() + 60
    while not all(p.exists() and p.read_text() for p in ready):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)  # while the children are stopping: not passed on again
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0 and stdout.splitlines()[-1] == "interrupted", stderr
    assert "Traceback" not in stderr
    for i, path in enumerate(ready):
        assert (tmp_path / f"c{i}.signals").read_text() == f"{int(signal.SIGINT)}\n"
        with pytest.raises(ProcessLookupError):  # exited (and reaped by the parent)
            os.kill(int(path.read_text()), 0)
    assert "stopped c0 after" in stdout
    assert not (tmp_path / f"c{count}.ready").exists()  # the queued one never started


# ------------------------------------------------------------------ the command
def test_a_bad_jobs_is_one_line_without_a_traceback(tmp_path):
    for value in (0, len(CORES) + 1):
        proc = helpers.reproduce(tmp_path, f"--jobs={value}", "--stage=train")
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"error: --jobs={value}: ") and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    with pytest.raises(UserError, match="use at most"):
        reproduction.plan_job(profile="smoke", jobs=len(CORES) + 1)


@pytest.mark.slow
@pytest.mark.skipif(len(CORES) < 2, reason="needs 2 usable cores")
def test_two_runs_side_by_side_train_and_publish_each_with_its_log(tmp_path):
    helpers.write_fake_mnist(tmp_path / "mnist", n_train=160, n_test=64)
    runs = ("exp1_mlp_dbn", "exp1_mlp_sbn")
    proc = helpers.reproduce(tmp_path, f"--only={','.join(runs)}", "--stage=train", "--jobs=2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(helpers.trained(proc.stdout)) == sorted(runs)
    assert "training 2 run(s) 2 at a time in child processes" in proc.stdout
    for name in runs:
        published = tmp_path / "models" / "smoke" / name
        assert f"{name} ({'MLP DBN' if 'dbn' in name else 'MLP SBN'}, WGAN-GP): published to " in (
            proc.stdout
        )
        with open(published / "generator" / "binarygan.json") as f:
            assert json.load(f)["generator_step"] == 2
        assert (published / "config.json").is_file() and (published / "timing.json").is_file()
        assert not (published / "metrics.json").exists()  # the children evaluate nothing
        log = (tmp_path / "runs" / f"{name}.log").read_text()
        assert log.lstrip("\n").startswith("=== ") and f"--only={name}" in log.splitlines()[1]
        assert f"[1/1] {name} (" in log and "stage train" in log
    assert not (tmp_path / "docs").exists()  # no page


def test_jobs_default_to_two_side_by_side_except_a_smoke_job(monkeypatch):
    """--jobs not given: 2 where 2 cores are usable (measured to finish the paper's runs
    sooner on 2 cores), 1 on a single core, 1 for the smoke profile (start-up bound)."""
    monkeypatch.setattr(pinned_runs, "usable_cores", lambda: [0, 1, 2, 3])
    assert reproduction.default_jobs("paper") == reproduction.DEFAULT_JOBS == 2
    assert reproduction.default_jobs("quick") == 2
    assert reproduction.default_jobs("smoke") == 1
    monkeypatch.setattr(pinned_runs, "usable_cores", lambda: [3])
    assert reproduction.default_jobs("paper") == 1
    assert reproduction.plan_job(profile="quick").jobs == 1
    assert reproduction.plan_job(profile="quick", jobs=1).jobs == 1
