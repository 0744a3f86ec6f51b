"""A queue of child processes, at most N at a time, each pinned to its own share of the cores.

Why: a training run here is mostly small matrix products (the MLP runs), which TensorFlow
splits over the threads of its intra-op pool; on a machine with few cores the second thread
of one run gains less than a second run would, so N runs side by side, each alone on 1/N of
the cores, may finish a set of runs sooner than the same runs one after another on all of
them. Whether they do on a given machine is a measurement, not this module's claim. It is
the launcher of `reproduce.py --jobs` (reproduction/job.py) and of
`tools/wgan_markers.py --jobs`.

Each child
- is pinned (os.sched_setaffinity in the child, before it starts the program) to its own
  share: the cores this process may use (os.sched_getaffinity) split into N disjoint shares
  of near-equal size (`shares`). Two children never contend for a core, and a share freed
  by a finished child goes to the next one in the queue;
- gets TF_NUM_INTRAOP_THREADS = its share's size (`child_environment`);
- appends its output to its own log file, after a header line (when, what, which cores);
- runs in its own session: a terminal's Ctrl-C reaches only this process, which passes the
  first SIGINT or SIGTERM on, once, to each running child, so each writes its checkpoint and
  exits (a second signal could stop a child before its checkpoint is written), and starts no
  new child.

A child's outcome is "done" (exit status 0), "interrupted" (exit status 130, or any status
once the stop was passed on) or "failed"; the queue's is "interrupted" if it was stopped or a
child was, else "failed" if any child failed, else "done".
"""

import dataclasses
import os
import signal
import subprocess
import time

from binarygan_tf.errors import EXIT_INTERRUPTED, UserError

DONE, FAILED, INTERRUPTED = "done", "failed", "interrupted"


@dataclasses.dataclass
class Child:
    name: str  # how the lines and the log's header name it
    command: list  # argv of the program
    log_path: str  # its output is appended here
    env: dict | None = None  # environment entries on top of this process's own
    data: object = None  # the caller's, handed back in on_start / on_finish


@dataclasses.dataclass
class Finished:
    child: Child
    outcome: str  # DONE, FAILED or INTERRUPTED
    returncode: int
    minutes: float  # wall time from its start to its exit
    share: tuple  # the cores it ran on


def usable_cores():
    """The cores this process may run on, sorted (its affinity, not the machine's count)."""
    return sorted(os.sched_getaffinity(0))


def check_jobs(jobs, name="--jobs", cores=None):
    """A UserError unless `jobs` children can each have a core of their own out of `cores`
    (default: this process's usable cores)."""
    cores = usable_cores() if cores is None else sorted(cores)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UserError(f"{name}={jobs}: give a positive integer, the runs to train at a time.")
    if jobs > len(cores):
        raise UserError(
            f"{name}={jobs}: this process may use {len(cores)} core(s) "
            f"({','.join(map(str, cores))}) and each run needs at least one of its own; "
            f"use at most {len(cores)}."
        )


def shares(cores, jobs):
    """`cores` split into `jobs` disjoint tuples covering them all, in order, sizes differing
    by at most one (the larger first): 4 cores, 3 jobs -> (0, 1), (2,), (3,)."""
    cores = sorted(cores)
    check_jobs(jobs, "jobs", cores)
    size, extra = divmod(len(cores), jobs)
    out, start = [], 0
    for i in range(jobs):
        end = start + size + (1 if i < extra else 0)
        out.append(tuple(cores[start:end]))
        start = end
    return out


def child_environment(share, extra=None, base=None):
    """The environment of a child pinned to `share`: `base` (default this process's), then
    `extra`, then TF_NUM_INTRAOP_THREADS = len(share), the threads one op is split over.

    TF_NUM_INTEROP_THREADS (how many independent ops run side by side) is left to TensorFlow's
    default on purpose: TensorFlow sizes that pool from the cores it may schedule on, which the
    pinning makes the share, and whatever its size its threads can only run on the share's
    cores; a training step here is a chain of dependent ops, so there is no reason to set it."""
    env = dict(os.environ if base is None else base)
    env.update(extra or {})
    env["TF_NUM_INTRAOP_THREADS"] = str(len(share))
    return env


def start(child, share, cwd=None):
    """Start `child` pinned to `share`, its output appended to its log after a header line."""
    cores = set(share)
    os.makedirs(os.path.dirname(os.path.abspath(child.log_path)), exist_ok=True)
    with open(child.log_path, "a") as log:
        log.write(
            f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {child.name} on core(s) "
            f"{','.join(map(str, share))}: {' '.join(child.command)}\n"
        )
        log.flush()
        return subprocess.Popen(
            child.command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=child_environment(share, child.env),
            preexec_fn=lambda: os.sched_setaffinity(0, cores),
            # Its own session: a terminal's Ctrl-C (sent to the foreground process group)
            # reaches only this process, which passes it on once (run_queue).
            start_new_session=True,
        )


def cores_text(share):
    """'core 0', 'cores 2,3'."""
    return f"core{'s' if len(share) > 1 else ''} {','.join(map(str, share))}"


def _default_start_line(log):
    return lambda child, share: log(f"started {child.name} on {cores_text(share)}")


def _default_finish_line(log):
    def line(f):
        if f.outcome == DONE:
            log(f"finished {f.child.name} in {f.minutes:.1f} min")
        elif f.outcome == INTERRUPTED:
            log(f"stopped {f.child.name} after {f.minutes:.1f} min")
        else:
            log(
                f"{f.child.name} failed (exit status {f.returncode}) after {f.minutes:.1f} "
                f"min; see {f.child.log_path}"
            )

    return line


def run_queue(
    children, jobs, *, cwd=None, on_start=None, on_finish=None, log=print, poll_seconds=0.5
):
    """Run `children` in their order, at most `jobs` at a time, each pinned to its share of
    the usable cores; returns DONE, FAILED or INTERRUPTED (see the module's docstring).

    `on_start(child, share)` is called as each starts and `on_finish(Finished)` as each ends;
    without them, one line each goes to `log`. SIGINT and SIGTERM are passed on to the running
    children once (this process's handlers are restored on return); no child starts after."""
    on_start = on_start or _default_start_line(log)
    on_finish = on_finish or _default_finish_line(log)
    free = shares(usable_cores(), jobs)
    queue = list(children)
    running = {}  # Popen -> (child, share, start time)
    signaled = set()  # the children the stop was passed to (each once)
    stop = []  # the signal that stopped the queue, once one came
    failed = interrupted = False

    def pass_on():
        for proc in list(running):
            if proc not in signaled and proc.poll() is None:
                signaled.add(proc)
                proc.send_signal(stop[0])

    def stop_queue(signum, frame):
        if not stop:  # later signals are not passed on: the children are already stopping
            stop.append(signum)
            pass_on()

    previous = {s: signal.signal(s, stop_queue) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while queue or running:
            while queue and free and not stop:
                child, share = queue.pop(0), free.pop(0)
                running[start(child, share, cwd)] = (child, share, time.time())
                on_start(child, share)
            if stop:
                queue.clear()
                pass_on()  # a child started just as the signal came gets it too
            for proc, (child, share, started) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[proc]
                free.append(share)
                free.sort()
                if proc.returncode == 0:
                    outcome = DONE
                elif proc.returncode == EXIT_INTERRUPTED or stop:
                    outcome, interrupted = INTERRUPTED, True
                else:
                    outcome, failed = FAILED, True
                minutes = (time.time() - started) / 60
                on_finish(Finished(child, outcome, proc.returncode, minutes, share))
            if running or (queue and not free):
                time.sleep(poll_seconds)
    except BaseException:
        # This process fails (a bug in a callback): stop the children as a Ctrl-C would and
        # wait for them, rather than leave them running detached in their own sessions.
        if not stop:
            stop.append(signal.SIGINT)
        pass_on()
        for proc in running:
            proc.wait()
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if stop or interrupted:  # (a child stopped on its own: by a signal sent to it alone)
        return INTERRUPTED
    return FAILED if failed else DONE
