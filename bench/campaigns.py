"""Campaigns speed: KPIs over a 10M-row daily table in the workspace, and the marketing-mix model fit.

    python bench/campaigns.py [--rows 10000000] [--repeat 3] [--seeds 3] [--skip-kpis] [--skip-mmm]

(a) KPIs: a daily table (date, campaign, channel, spend, impressions, clicks, conversions, revenue)
is generated inside DuckDB once per run. `core.campaigns.kpis` runs end to end on the workspace
table through Ibis (input checks for negatives, then the sums per week and channel, and the KPIs
as ratios of sums), by channel per week and by campaign over the whole period. The baseline is the
same sums in one plain DuckDB GROUP BY on the same table. The ratio ours / baseline is printed.

(b) MMM: `fit_mmm` with the app's default settings on 208 weeks x 5 channels of planted data
(core.campaigns.mmm_planted), once in this process per seed and once as a background job through
core.jobs.JobRunner (one worker, its thread limit), against the 30 s target, with the recovered
ROAS next to the planted one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.campaigns.mmm import fit_mmm  # noqa: E402
from core.campaigns.mmm_planted import planted_weekly  # noqa: E402
from core.data.workspace import Workspace  # noqa: E402

TARGET_S = 30.0


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_kpis(rows: int, repeat: int) -> None:
    from core.campaigns.kpis import kpis

    folder = Path(tempfile.mkdtemp(prefix="mw-bench-campaigns-"))
    ws = Workspace(folder / "bench.duckdb")
    t0 = time.perf_counter()
    with ws._cursor() as cur:  # generated in the database: no 10M-row CSV needed
        cur.execute(f"""
            CREATE TABLE campaign_big AS
            SELECT DATE '2024-01-01' + CAST(i % 730 AS INTEGER) AS date,
                   'campaign ' || CAST((i // 730) % 2000 AS VARCHAR) AS campaign,
                   ['search', 'social', 'email', 'display', 'video'][CAST((i // 730) % 5 AS INTEGER) + 1] AS channel,
                   round(random() * 500, 2) AS spend,
                   CAST(random() * 100000 AS BIGINT) AS impressions,
                   CAST(random() * 2000 AS BIGINT) AS clicks,
                   CAST(random() * 50 AS BIGINT) AS conversions,
                   round(random() * 3000, 2) AS revenue
            FROM range({rows}) t(i)
        """).fetchall()
    print(f"(a) KPIs: {rows:,} daily rows (730 days x 2,000 campaigns x 5 channels) generated in "
          f"{time.perf_counter() - t0:.1f} s; {load()}")
    table = ws.table("campaign_big")
    cols = dict(date="date", spend="spend", impressions="impressions", clicks="clicks",
                conversions="conversions", revenue="revenue")
    cases = {
        "by channel per week": (dict(by="channel", freq="W"), "date_trunc('week', date), channel"),
        "by campaign, whole period": (dict(by="campaign", freq="total"), "campaign"),
    }
    for name, (kwargs, keys) in cases.items():
        ours, base = [], []
        out = None
        for _ in range(repeat):
            t0 = time.perf_counter()
            out = kpis(table, **cols, **kwargs)  # type: ignore[arg-type]
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with ws._cursor() as cur:
                ref = cur.execute(f"""
                    SELECT {keys}, count(*) AS n, sum(spend) AS spend, sum(impressions) AS impressions,
                           sum(clicks) AS clicks, sum(conversions) AS conversions, sum(revenue) AS revenue
                    FROM campaign_big GROUP BY ALL""").df()
            base.append(time.perf_counter() - t0)
        assert out is not None
        assert len(out) == len(ref), (len(out), len(ref))
        assert abs(out["spend"].sum() - ref["spend"].sum()) <= 1e-6 * ref["spend"].sum()
        assert int(out["clicks"].sum()) == int(ref["clicks"].sum())
        m_ours, m_base = statistics.median(ours), statistics.median(base)
        print(f"  {name:<28} kpis {m_ours:6.2f} s   plain GROUP BY {m_base:6.2f} s   ratio {m_ours / m_base:5.2f}x"
              f"   ({len(out):,} rows out; runs {', '.join(f'{x:.2f}' for x in ours)} vs "
              f"{', '.join(f'{x:.2f}' for x in base)}); {load()}")


def bench_mmm(seeds: int, job: bool) -> None:
    print(f"(b) MMM: 208 weeks x 5 channels, default settings; {load()}")
    for seed in range(seeds):
        planted = planted_weekly(208, 5, seed=seed)
        channels = list(planted.truth.channel)
        t0 = time.perf_counter()
        result = fit_mmm(planted.data, date="date", target="revenue", channels=channels, seed=seed)
        took = time.perf_counter() - t0
        verdict = "met" if took < TARGET_S else "NOT met"
        print(f"  seed {seed}: {took:5.1f} s in this process (target {TARGET_S:.0f} s: {verdict}); "
              f"r2 {result.fit.r2:.3f}, holdout MAPE {result.fit.holdout_mape:.1%}; {load()}")
        roas = result.roas.set_index("channel")
        inside = 0
        for row in planted.truth.itertuples():
            r = roas.loc[row.channel]
            ok = r.roas_low <= row.roas <= r.roas_high
            inside += ok
            print(f"    {row.channel:<8} planted ROAS {row.roas:4.2f}  recovered {r.roas:4.2f} "
                  f"({r.roas_low:4.2f} to {r.roas_high:4.2f}) {'inside' if ok else 'OUTSIDE'}   "
                  f"theta {row.theta:.2f} -> {result.params.set_index('channel').loc[row.channel, 'theta']:.2f}")
        print(f"    {inside} of {len(channels)} planted ROAS inside the 95% interval")
    if job:
        from core.jobs import JobRunner

        planted = planted_weekly(208, 5, seed=0)
        runner = JobRunner(Path(tempfile.mkdtemp(prefix="mw-bench-jobs-")), workers=1)
        t0 = time.perf_counter()
        job_id = runner.submit("mmm", fit_mmm, planted.data, owner="bench", date="date", target="revenue",
                               channels=list(planted.truth.channel), seed=0)
        runner.wait(job_id, timeout=600)
        took = time.perf_counter() - t0
        record = runner.get(job_id)
        result = runner.result(job_id) if record.state == "done" else None
        inner = f"fit {result.seconds:.1f} s inside the worker" if result is not None else f"state {record.state}"
        print(f"  as a job (JobRunner, 1 worker, {runner.threads} thread(s)): {took:.1f} s submit to result "
              f"({inner}; target {TARGET_S:.0f} s: {'met' if took < TARGET_S else 'NOT met'}); {load()}")
        runner.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--skip-kpis", action="store_true")
    ap.add_argument("--skip-mmm", action="store_true")
    ap.add_argument("--no-job", action="store_true", help="skip the run through the job runner")
    args = ap.parse_args()
    if not args.skip_kpis:
        bench_kpis(args.rows, args.repeat)
    if not args.skip_mmm:
        bench_mmm(args.seeds, not args.no_job)


if __name__ == "__main__":
    main()
