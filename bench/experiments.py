"""Experiment read-out speed: analyze() on a 10M-row per-user table in the workspace vs pandas groupby.

    python bench/experiments.py [--rows 10000000] [--repeat 3]

The table (3 arms; converted 0/1, revenue, pre-period revenue) is generated inside DuckDB once
per run. `analyze` runs end to end from the workspace table: metric type detection, variant
counts, per-variant sufficient statistics aggregated in DuckDB through Ibis (conversion and
revenue with CUPED), and the statistics. The baseline is pandas computing the same sufficient
statistics with groupby on a DataFrame already in memory (loading it is not timed).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.experiments import analyze, check_assignment  # noqa: E402
from core.experiments import charts  # noqa: E402
from core.data.workspace import Workspace  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mw-bench-"))
    ws = Workspace(folder / "bench.duckdb")
    with ws._cursor() as cur:  # generated in the database: no 10M-row CSV needed
        cur.execute(f"""
            CREATE TABLE __gen AS
            SELECT CASE WHEN i % 100 = 7 THEN i - 1 ELSE i END AS user_id,  -- 1% of rows repeat a user
                   CASE WHEN h < 0.3334 THEN 'control' WHEN h < 0.6667 THEN 'variant_a' ELSE 'variant_b' END AS variant,
                   pre,
                   CASE WHEN random() < 0.05 * (CASE WHEN h >= 0.6667 THEN 1.1 ELSE 1.0 END) THEN 1 ELSE 0 END AS converted,
                   round(0.5 * pre + CASE WHEN random() < 0.05 THEN 60 * random() ELSE 0 END, 2) AS revenue
            FROM (SELECT i, random() AS h, round(-ln(1 - random()) * 40, 2) AS pre FROM range({args.rows}) t(i))
        """).fetchall()
    with ws._cursor() as cur:
        frame = cur.execute("SELECT variant, converted, revenue, pre FROM __gen").df()
    print(f"{args.rows:,} users x 3 arms; peak RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    def ours():  # type: ignore[no-untyped-def]
        return analyze(ws.table("__gen"), "variant", ["converted", "revenue"], covariate="pre")

    def pandas_groupby():  # type: ignore[no-untyped-def]
        f = frame.assign(c2=frame.converted ** 2, r2=frame.revenue ** 2, x2=frame.pre ** 2,
                         cx=frame.converted * frame.pre, rx=frame.revenue * frame.pre)
        return f.groupby("variant").agg(n=("converted", "size"), c=("converted", "sum"), c2=("c2", "sum"),
                                        r=("revenue", "sum"), r2=("r2", "sum"), x=("pre", "sum"), x2=("x2", "sum"),
                                        cx=("cx", "sum"), rx=("rx", "sum"))

    times: dict[str, list[float]] = {"analyze (DuckDB via Ibis, end to end)": [], "pandas groupby (in memory)": []}
    result = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = ours()
        times["analyze (DuckDB via Ibis, end to end)"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        pandas_groupby()
        times["pandas groupby (in memory)"].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["pandas groupby (in memory)"]
    for k, v in med.items():
        print(f"  {k:<40} {v:6.2f} s  ({v / base:.2f}x pandas)  runs: {', '.join(f'{x:.2f}' for x in times[k])}")
    ours_s = med["analyze (DuckDB via Ibis, end to end)"]
    print(f"target: analyze under 2 s end to end: {'met' if ours_s < 2 else 'NOT met'} ({ours_s:.2f} s)")
    assert result is not None
    print(result.table[["metric", "variant", "rel_lift", "p_adjusted"]].to_string(index=False))
    print(f"CUPED variance reduction: {result.cuped}; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    # one row per user: the check, and analyze with first exposures only (row order), in the database
    t0 = time.perf_counter()
    check = check_assignment(ws.table("__gen"), "variant", "user_id")
    t_check = time.perf_counter() - t0
    t0 = time.perf_counter()
    first = analyze(ws.table("__gen"), "variant", ["converted", "revenue"], covariate="pre", user="user_id",
                    dedupe="first")
    t_first = time.perf_counter() - t0
    print(f"check_assignment: {t_check:.2f} s ({check}); analyze(..., user=, dedupe='first'): {t_first:.2f} s "
          f"({first.cleaning.message() if first.cleaning else ''})")
    # the HTML report: plotly.js embedded once (compressed) however many charts
    report = charts.html_report("bench", result.summary_text, result.table, [charts.forest_figure(result.table)] * 3, [])
    print(f"HTML report with 3 charts: {len(report) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
