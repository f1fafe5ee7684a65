"""Training with default settings on public data, alone and as a background job (issue 11: under 10 s).

    python bench/training_defaults.py [--data telco bank bankfull ifood] [--modes solo job]
                                      [--repeat 1] [--baseline REV | --baseline none]

Data: Telco churn (target Churn), Bank Marketing bank-additional-full.csv and bank-full.csv (target y),
both from ../shared/data (skipped with the reason when absent), and an iFood-like table (2,240 rows:
the generator `ifood_like` of tests/test_segments.py, target Response). Each file is loaded through a
Workspace (`ingest_csv`, then `read`), as the app does, and handed to the contenders as Parquet;
loading is not timed.

Modes, each in a fresh process:
  solo  `core.models.train(df, target)` with defaults, in the process's default threads; the time of
        the call (imports and loading not timed).
  job   `core.models.training_job.train_job` submitted to a `core.jobs.JobRunner` (default MW_WORKERS,
        so the worker runs with `threads_per_job()` threads), from submit until the saved model is
        loaded back (`load_trained`): what a user waits for, with the worker's spawn, imports and the
        pickled frame included. The job's own step times come from its progress messages.
CPU seconds are printed next to the wall time (solo: the training process's, all its threads; job: the
worker's, imports included): on a shared machine they move far less with other people's load.

The previous method is the code of commit `--baseline` (default: the commit before issue 11's speed-up,
BASELINE below), extracted with `git archive` into a temporary folder and run the same way in the
same run, alternating with the current code (previous, current, previous, current ...) so both see
the same load. Every figure is printed with the load average (2 cores shared with other people:
compare within a run, not across runs). ROC AUC of each model is printed so a faster run can be
checked for the same quality.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
BASELINE = "41c6171"  # the code before the issue-11 speed-up (permutation importance per shuffle, default threads)
TARGET_S = 10.0
DATA = {
    "telco": ("Telco churn", SHARED / "telco_churn" / "Telco-Customer-Churn.csv", "Churn"),
    "bank": ("Bank Marketing (additional-full)", SHARED / "bank_marketing" / "bank-additional-full.csv", "y"),
    "bankfull": ("Bank Marketing (bank-full)", SHARED / "bank_marketing" / "bank-full.csv", "y"),
    "ifood": ("iFood-like (generated, 2,240 rows)", None, "Response"),
}

SOLO = """
import pandas as pd
from core.models import train
df = pd.read_parquet(PATH)
t0, c0 = time.perf_counter(), time.process_time()
m = train(df, TARGET)
out = {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "auc": m.metrics.get("roc_auc"),
       "threads": m.info.get("threads")}
"""

JOB = """
import pandas as pd
from core.jobs import JobRunner
from core.models.training_job import load_trained, train_job

def main():
    df = pd.read_parquet(PATH)
    runner = JobRunner(tempfile.mkdtemp(prefix="mw-bench-jobs-"))
    cold = None
    for attempt in ("cold", "warm"):  # the first job after a server start, then one as users meet it
        steps, last = [], None
        t0 = time.perf_counter()
        job_id = runner.submit("train", train_job, df, {"target": TARGET, "attempt": attempt}, owner="bench",
                               table="bench")
        while True:
            job = runner.get(job_id)
            if job.step != last:
                steps.append((round(time.perf_counter() - t0, 2), job.step))
                last = job.step
            if job.finished:
                break
            time.sleep(0.02)
        model = load_trained(runner.job_dir(job_id), runner.result(job_id))
        seconds = time.perf_counter() - t0
        cold = seconds if cold is None else cold
    runner.shutdown()
    import multiprocessing
    import resource
    for worker in multiprocessing.active_children():  # reap the ended worker: then its CPU time is counted
        worker.join(10)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)  # the worker's, imports included
    return {"seconds": seconds, "cpu": used.ru_utime + used.ru_stime, "auc": model.metrics.get("roc_auc"),
            "threads": model.info.get("threads"),
            "train_seconds": model.info.get("seconds"), "steps": steps, "cold": cold}

if __name__ == "__main__":
    out = main()
"""


def load_average() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def prepare_data(names: list[str], folder: Path) -> dict[str, tuple[str, Path, str]]:
    """Parquet files of the data sets that are present (loaded through a Workspace); prints skipped ones."""
    sys.path.insert(0, str(ROOT))
    from core.workspace import Workspace

    ws = Workspace(str(folder / "ws.duckdb"))
    out = {}
    for name in names:
        what, source, target = DATA[name]
        path = folder / f"{name}.parquet"
        if source is None:
            sys.path.insert(0, str(ROOT / "tests"))
            from test_segments import ifood_like

            df = ifood_like(2240)
        elif not source.exists():
            print(f"{what}: skipped, {source} is absent")
            continue
        else:
            ws.ingest_csv(str(source), name)
            df = ws.read(name)
        df.to_parquet(path)
        out[name] = (f"{what}, {len(df):,} rows", path, target)
    return out


def extract(rev: str) -> Path:
    """The repository's files at `rev` in a temporary folder (git archive)."""
    folder = Path(tempfile.mkdtemp(prefix=f"mw-bench-{rev}-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
    tar = folder / "tree.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(folder, filter="data")
    tar.unlink()
    return folder


def run(code: str, tree: Path, path: Path, target: str, timeout: float) -> dict:
    """Run one contender in a fresh process with `tree` first on the path; its JSON result."""
    script = (f"import sys, time, json, tempfile; sys.path.insert(0, {str(tree)!r})\n"
              f"PATH, TARGET = {str(path)!r}, {target!r}\n" + code
              + "\nif __name__ == '__main__':\n    print('RESULT ' + json.dumps(out, default=str))\n")
    file = Path(tempfile.mkdtemp(prefix="mw-bench-run-")) / "contender.py"  # a file: spawn re-imports the main module
    file.write_text(script)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    try:
        proc = subprocess.run([sys.executable, str(file)], capture_output=True, text=True, cwd=str(tree), env=env,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"stopped after {timeout:.0f} s", "seconds": timeout, "stopped": True}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1].removeprefix("RESULT "))


def median(runs: list[dict]) -> dict:
    ok = sorted((r for r in runs if "error" not in r or r.get("stopped")), key=lambda r: r["seconds"])
    return ok[len(ok) // 2] if ok else runs[0]


def text(r: dict) -> str:
    if r.get("stopped"):
        return f"> {r['seconds']:.0f} s (stopped)"
    if "error" in r:
        return f"failed: {r['error'][:80]}"
    auc = f", AUC {r['auc']:.4f}" if r.get("auc") is not None else ""
    # 0 when the worker was not a reaped child of the bench process (then it is not known): left out
    cpu = f", CPU {r['cpu']:.1f} s" if r.get("cpu") else ""
    return f"{r['seconds']:6.2f} s ({r.get('threads')} thread{'s' if r.get('threads') != 1 else ''}{cpu}{auc})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=list(DATA), choices=list(DATA))
    ap.add_argument("--modes", nargs="+", default=["solo", "job"], choices=["solo", "job"])
    ap.add_argument("--repeat", type=int, default=1, help="runs per contender (the median is reported)")
    ap.add_argument("--baseline", default=BASELINE, help="git revision of the previous method, or 'none'")
    ap.add_argument("--timeout", type=float, default=300, help="stop a run after this many seconds")
    ap.add_argument("--json", type=Path, help="also write every run here")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mw-bench-training-"))
    data = prepare_data(args.data, work)
    trees = {"now": ROOT}
    if args.baseline != "none":
        trees = {f"previous ({args.baseline})": extract(args.baseline), "now": ROOT}
    print(f"load average {load_average()} at the start, {os.cpu_count()} cores")
    rows, record = [], []
    for name, (what, path, target) in data.items():
        for mode in args.modes:
            runs: dict[str, list[dict]] = {k: [] for k in trees}
            for _ in range(args.repeat):
                for label, tree in trees.items():  # alternate, so both see the same load
                    r = run(SOLO if mode == "solo" else JOB, tree, path, target, args.timeout)
                    r["load"] = load_average()
                    runs[label].append(r)
                    record.append({"data": name, "mode": mode, "code": label, **r})
            best = {k: median(v) for k, v in runs.items()}
            now = best["now"]
            verdict = "met" if "error" not in now and now["seconds"] < TARGET_S else "NOT met"
            line = f"{what} | {mode} | " + " | ".join(f"{k}: {text(v)}" for k, v in best.items())
            prev = next((v for k, v in best.items() if k != "now"), None)
            if prev is not None and "error" not in now and ("error" not in prev or prev.get("stopped")):
                line += f" | {prev['seconds'] / now['seconds']:.2f}x faster" + (" at least" if prev.get("stopped") else "")
            line += f" | < {TARGET_S:.0f} s: {verdict} | load {now['load']}"
            print(line, flush=True)
            if mode == "job" and now.get("cold") is not None:
                print(f"    the first job after a server start (fork server importing): {now['cold']:.2f} s; "
                      "the figure above is the next job, as users meet it")
            if mode == "job" and "steps" in now:
                print("    job steps (s since submit): " + "; ".join(f"{s} {step}" for s, step in now["steps"]))
            rows.append(line)
    print(f"load average {load_average()} at the end")
    if args.json:
        args.json.write_text(json.dumps(record, indent=2, default=str))


if __name__ == "__main__":
    main()
