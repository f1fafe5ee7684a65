"""Heavy jobs at once on a small machine: each job's time beside others and a busy core, against its time alone.

    python bench/concurrency.py [--mix 2t 2k 1t1k] [--busy python|numpy|none] [--repeat 1] [--no-autok]

Jobs (each in its own process, as a worker of the job pool would be):
  t  `core.models.train(df, "Churn")` with defaults on the public Telco churn file (7,043 rows, loaded
     through a Workspace as the app does); without ../shared/data a generated table of the same size
     (make_classification 7,000 x 20 with 3 categorical columns);
  k  `core.segments.kmeans_segments(feats, features, k=None)` (the k = 2..10 sweep, final fit, stability)
     on the customer features of the public Online Retail file (4,338 customers); without it make_blobs.
Data are prepared once and read by every worker before the clock starts; workers start together.

For every job kind the baseline is its time alone on an idle machine (no other job, no busy process)
with today's default threads. Then each mix (2t = two trainings, 2k = two sweeps, 1t1k = one of each)
runs beside one busy process (`--busy`: a pure-Python spin loop on one core, or a numpy matrix product
loop with default BLAS threads), in these variants:
  unlimited threads   today's behaviour: every process with default OpenMP/BLAS threads;
  one thread per job  each worker runs inside `core.jobs.limit_threads(1)` (threadpoolctl's
                      `threadpool_limits(1)` while core/jobs.py does not exist);
  JobRunner           the jobs submitted together to `core.jobs.JobRunner` (only when core/jobs.py has one).
Printed: each job's seconds and its ratio to its solo time. Target: every job of a two-job mix within
2x its solo time on 2 cores (issue 11 measured 10x for unlimited threads).

Then the 1M x 10 auto-k benchmark of issue 11 (reused from bench/segments.py --blobs): on
make_blobs(1_000_000, 10, centers=6, cluster_std=2.0), `kmeans_segments(k=None)` against one plain
scikit-learn KMeans fit with the chosen k, as a ratio (target <= 3x).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PUBLIC = Path(os.environ.get("MW_PUBLIC_DATA", ROOT.parent / "shared" / "data"))
TELCO = PUBLIC / "telco_churn" / "Telco-Customer-Churn.csv"
RETAIL = PUBLIC / "online_retail" / "online_retail.csv"
TIMEOUT_S = 300.0  # a job still running after this is stopped and shown as "> 300 s" (--timeout)
BUSY = {
    "python": "while True: pass",
    "numpy": "import numpy as np\na = np.random.default_rng(0).normal(size=(1500, 1500))\nwhile True: a @ a",
}


def has_jobs_module() -> bool:
    return (ROOT / "core" / "jobs.py").exists() or (ROOT / "core" / "jobs" / "__init__.py").exists()


def thread_limiter():  # type: ignore[no-untyped-def]
    """(name, limit(n) context manager): core.jobs.limit_threads when it exists, else threadpoolctl."""
    if has_jobs_module():
        from core.jobs import limit_threads
        return "core.jobs.limit_threads", limit_threads
    from threadpoolctl import threadpool_limits
    return "threadpoolctl.threadpool_limits", lambda n: threadpool_limits(limits=n)


# ------------------------------------------------------------------ data, prepared once
def prepare(folder: Path) -> dict[str, dict]:
    """Parquet files for both job kinds, with where they came from."""
    from core.workspace import Workspace

    out: dict[str, dict] = {}
    ws = None
    if TELCO.exists() or RETAIL.exists():
        ws = Workspace(str(folder / "ws.duckdb"))
    if TELCO.exists():
        assert ws is not None
        ws.ingest_csv(str(TELCO), "telco")
        df = ws.read("telco")
        out["t"] = {"what": f"Telco churn ({len(df):,} rows), train(df, 'Churn')", "target": "Churn"}
    else:
        from sklearn.datasets import make_classification
        X, y = make_classification(7_000, 20, n_informative=8, random_state=0)
        df = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)])
        rng = np.random.default_rng(0)
        for j in range(3):  # a few categorical columns, as in a churn table
            df[f"cat{j}"] = np.where(df[f"x{j}"] > 0, "yes", "no")
            df[f"plan{j}"] = rng.choice(["basic", "plus", "premium", "family"], len(df))
            df = df.drop(columns=f"x{j}")
        df["churned"] = y
        out["t"] = {"what": f"generated ({TELCO} absent): 7,000 x 20 make_classification, train(df, 'churned')",
                    "target": "churned"}
    df.to_parquet(folder / "t.parquet")
    if RETAIL.exists():
        from core.segments import customer_features
        assert ws is not None
        ws.ingest_csv(str(RETAIL), "retail")
        feats = customer_features(ws.table("retail"), "CustomerID", "InvoiceDate", "UnitPrice", order="InvoiceNo",
                                  quantity="Quantity", exclude_non_positive=True)
        cols = [c for c in feats.columns if c != "CustomerID" and str(feats[c].dtype)[:1] in "fiu"]
        out["k"] = {"what": f"Online Retail customer features ({len(feats):,} customers x {len(cols)})",
                    "features": cols, "id": "CustomerID"}
    else:
        from sklearn.datasets import make_blobs
        X, _ = make_blobs(4_500, 8, centers=5, cluster_std=2.0, random_state=0)
        feats = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)])
        out["k"] = {"what": f"generated ({RETAIL} absent): make_blobs 4,500 x 8", "features": list(feats.columns),
                    "id": None}
    feats.to_parquet(folder / "k.parquet")
    return out


# ------------------------------------------------------------------ one job in a worker process
def job(kind: str, folder: Path, spec: dict):  # type: ignore[no-untyped-def]
    """The callable a worker runs, with its data loaded (loading is not timed)."""
    df = pd.read_parquet(folder / f"{kind}.parquet")
    if kind == "t":
        from core.models import train
        return lambda: train(df, spec["target"])
    from core.segments import kmeans_segments
    return lambda: kmeans_segments(df, spec["features"], None, id_column=spec["id"])


def worker(kind: str, folder: str, threads: int) -> None:
    """Load, say ready, wait for the go line on stdin, run the job, print its seconds as JSON."""
    spec = json.loads((Path(folder) / "specs.json").read_text())[kind]
    fn = job(kind, Path(folder), spec)
    limiter = thread_limiter()[1](threads) if threads else contextlib.nullcontext()
    print("ready", flush=True)
    sys.stdin.readline()
    with limiter:
        t0 = time.perf_counter()
        fn()
        seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds}), flush=True)


def run_together(kinds: list[str], folder: Path, threads: int, busy: str | None) -> list[float]:
    """Start one worker per kind (and the busy process), release them at once, return their seconds."""
    hog = subprocess.Popen([sys.executable, "-c", BUSY[busy]]) if busy else None
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", k, str(folder), str(threads)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for k in kinds]
    try:
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"worker did not start: {line!r}")
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        out = []
        deadline = time.monotonic() + TIMEOUT_S
        for p in procs:
            try:
                stdout, _ = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                out.append(math.inf)  # printed as "> TIMEOUT_S"
                continue
            if p.returncode:
                raise RuntimeError(f"worker failed with exit code {p.returncode}")
            out.append(json.loads(stdout.strip().splitlines()[-1])["seconds"])
        return out
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()


def run_job_runner(kinds: list[str], folder: Path, busy: str | None) -> list[float] | str:
    """The jobs submitted together to core.jobs.JobRunner; seconds per job, or why this was skipped."""
    if not has_jobs_module():
        return "skipped: core/jobs.py does not exist yet"
    import core.jobs as jobs
    if not hasattr(jobs, "JobRunner"):
        return "skipped: core.jobs has no JobRunner yet"
    from concurrency import runner_job  # this file as an importable module: the worker imports it by name
    from core.jobs import JobRunner

    hog = subprocess.Popen([sys.executable, "-c", BUSY[busy]]) if busy else None
    runner = JobRunner(folder / f"jobs-{time.monotonic_ns()}")
    try:  # one owner per job: several people, each with one job
        ids = [runner.submit(k, runner_job, k, str(folder), owner=f"user{i}") for i, k in enumerate(kinds)]
        out = []
        for job_id in ids:
            job = runner.wait(job_id, timeout=TIMEOUT_S)
            if job.state != "done":
                return f"job {job.kind} {job.state} after {TIMEOUT_S:.0f} s: {job.error or job.step}"
            out.append(float(runner.result(job_id)))
        return out
    finally:
        runner.shutdown()
        if hog is not None:
            hog.kill()
            hog.wait()


def runner_job(kind: str, folder: str, progress=None) -> float:  # type: ignore[no-untyped-def]
    """A JobRunner job: load the data (not timed), run the job, return its seconds."""
    spec = json.loads((Path(folder) / "specs.json").read_text())[kind]
    fn = job(kind, Path(folder), spec)
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def forever(kinds: list[str]) -> None:
    """Run `kinds` together through a JobRunner, round after round, until killed."""
    with tempfile.TemporaryDirectory(prefix="bench-jobs-load-") as tmp:
        folder = Path(tmp)
        (folder / "specs.json").write_text(json.dumps(prepare(folder)))
        print(f"jobs load: {' + '.join(kinds)} through a JobRunner, round after round", flush=True)
        while True:
            seconds = run_job_runner(kinds, folder, None)
            print(f"jobs load: round {seconds}", flush=True)


def secs_text(s: float) -> str:
    return f"> {TIMEOUT_S:.0f} s" if math.isinf(s) else f"{s:.1f} s"


def ratio_text(r: float) -> str:
    return "timed out" if math.isinf(r) else f"{r:.1f}x"


def machine_busy(seconds: float = 2.0) -> float:
    """Share of all cores busy (from /proc/stat) over `seconds`, before this bench starts anything."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + values[4]
        return sum(values) - idle, sum(values)
    try:
        b0, t0 = sample()
        time.sleep(seconds)
        b1, t1 = sample()
        return (b1 - b0) / max(1, t1 - t0)
    except OSError:
        return math.nan


def mix_kinds(mix: str) -> list[str]:
    """'2t' -> ['t', 't']; '1t1k' -> ['t', 'k']."""
    kinds: list[str] = []
    number = ""
    for ch in mix:
        if ch.isdigit():
            number += ch
        else:
            kinds += [ch] * int(number or 1)
            number = ""
    return kinds


def autok(repeats: int) -> None:
    """Issue 11's 1M x 10 auto-k benchmark, from bench/segments.py."""
    sys.path.insert(0, str(ROOT / "bench"))
    import segments  # bench/segments.py

    segments.compare(*segments.make_blobs_customers(), repeats=repeats, label="make_blobs(1_000_000, 10, centers=6, "
                     "cluster_std=2.0)")


def main() -> None:
    global TIMEOUT_S
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mix", nargs="+", default=["2t", "2k", "1t1k"],
                    help="job mixes to run at once: 2t = two trainings, 2k = two K-means sweeps, 1t1k, 3t ...")
    ap.add_argument("--busy", choices=["python", "numpy", "none"], default="python",
                    help="the busy process beside the jobs (default: a pure-Python spin loop)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement (median)")
    ap.add_argument("--no-autok", action="store_true", help="skip the 1M x 10 auto-k benchmark")
    ap.add_argument("--autok-only", action="store_true", help="only the 1M x 10 auto-k benchmark")
    ap.add_argument("--autok-repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds before a run is stopped")
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--forever", metavar="MIX", help="keep this mix (e.g. 1t1k) running through a JobRunner until "
                    "killed, printing each round's seconds: the load of bench/interactive.py --busy jobs")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return
    if args.forever:
        forever(mix_kinds(args.forever))
        return
    if args.autok_only:
        autok(args.autok_repeat)
        return
    TIMEOUT_S = args.timeout
    busy = None if args.busy == "none" else args.busy
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    limiter_name = thread_limiter()[0]
    print(f"{cores} cores; before the bench: load average {os.getloadavg()[0]:.2f}, cores busy "
          f"{machine_busy():.0%} (other people's work); busy process: {args.busy}; thread limit via {limiter_name}")
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp:
        folder = Path(tmp)
        specs = prepare(folder)
        (folder / "specs.json").write_text(json.dumps(specs))
        for kind, spec in specs.items():
            print(f"  job {kind}: {spec['what']}")

        def median_runs(kinds: list[str], threads: int, busy_: str | None) -> list[float]:
            runs = [run_together(kinds, folder, threads, busy_) for _ in range(args.repeat)]
            return [statistics.median(r[i] for r in runs) for i in range(len(kinds))]

        kinds_needed = sorted({k for m in args.mix for k in mix_kinds(m)})
        solo = {k: median_runs([k], 0, None)[0] for k in kinds_needed}
        solo_one = {k: median_runs([k], 1, None)[0] for k in kinds_needed}
        for k in kinds_needed:
            print(f"job {k} alone (no other job, no busy process): {secs_text(solo[k])} with default threads, "
                  f"{secs_text(solo_one[k])} with one thread")
        rows = []
        for mix in args.mix:
            kinds = mix_kinds(mix)
            variants: list[tuple[str, list[float] | str]] = [
                ("unlimited threads", median_runs(kinds, 0, busy)),
                ("one thread per job", median_runs(kinds, 1, busy)),
                ("JobRunner", run_job_runner(kinds, folder, busy)),
            ]
            for name, secs in variants:
                if isinstance(secs, str):
                    rows.append((mix, name, secs, "", "", ""))
                    continue
                ratios = [s / solo[k] for s, k in zip(secs, kinds)]
                ratios_one = [s / solo_one[k] for s, k in zip(secs, kinds)]
                strict = [max(a, b) for a, b in zip(ratios, ratios_one)]  # against the faster solo time
                ok = "" if len(kinds) != 2 else ("met" if max(strict) <= 2 else "NOT met")
                rows.append((mix, name, ", ".join(f"{k} {secs_text(s)}" for k, s in zip(kinds, secs)),
                             ", ".join(ratio_text(r) for r in ratios), ", ".join(ratio_text(r) for r in ratios_one), ok))
        print(f"\nEach job's time beside the others and one busy process ({args.busy}), as a ratio to its time alone "
              f"with default threads and with one thread (median of {args.repeat}). Target for two jobs: each <= 2x "
              "its faster solo time.")
        print(f"{'mix':<6} {'variant':<20} {'seconds':<32} {'vs solo default':<22} {'vs solo 1 thread':<22} target")
        for mix, name, secs, ratios, ratios_one, ok in rows:
            print(f"{mix:<6} {name:<20} {secs:<32} {ratios:<22} {ratios_one:<22} {ok}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    if not args.no_autok:
        print()
        autok(args.autok_repeat)


if __name__ == "__main__":
    main()
