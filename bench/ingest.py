"""Ingest speed and memory: Workspace.ingest_csv vs raw DuckDB CTAS vs pandas.read_csv + insert.

    python bench/ingest.py [--rows 1000000 10000000] [--skip-pandas-above 2000000]

Each contender runs in its own subprocess (so peak RSS is its own), on the same generated
transactions file; figures are printed as ratios against the raw DuckDB baseline. The workspace
is opened before the clock starts (the app opens it once per process, ~0.04 s for a new file);
raw DuckDB's connect is inside its timing (~5 ms).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"

CODE = {
    "duckdb_raw": """
import duckdb
#START
con = duckdb.connect(DB)
con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{CSV}')").fetchall()
rows = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
""",
    "workspace": """
from core.data.workspace import Workspace
ws = Workspace(DB)  # the app opens its workspace once per process; only the load is timed
#START
rows = ws.ingest_csv(CSV, "t").rows
""",
    "pandas": """
import duckdb, pandas as pd
#START
df = pd.read_csv(CSV)
con = duckdb.connect(DB)
con.register("df", df)
con.execute("CREATE TABLE t AS SELECT * FROM df").fetchall()
rows = len(df)
""",
}


def run(kind: str, csv: Path, db: Path) -> dict[str, float]:
    db.unlink(missing_ok=True)
    script = (
        f"import sys, time, resource, json; sys.path.insert(0, {str(ROOT)!r})\n"
        f"CSV, DB = {str(csv)!r}, {str(db)!r}\n"
        + CODE[kind].replace("#START", "t0 = time.perf_counter()  # imports are not timed")
        + "\nprint(json.dumps({'seconds': time.perf_counter() - t0, 'rows': rows, "
          "'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--repeat", type=int, default=3, help="runs per contender (median reported)")
    ap.add_argument("--skip-pandas-above", type=int, default=2_000_000)
    args = ap.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    for n in args.rows:
        csv = DATA / f"transactions_{n}.csv"
        if not csv.exists():
            subprocess.run([sys.executable, str(ROOT / "sample_data" / "generate.py"), "--only", "transactions",
                            "--customers", str(max(1000, n // 6)), "--transactions", str(n), "--out", str(DATA)],
                           check=True, capture_output=True)
            (DATA / "transactions.csv").rename(csv)
        size = csv.stat().st_size / 1e6
        print(f"\n{n:,} rows, {size:.0f} MB CSV")
        results = {}
        for kind in ["duckdb_raw", "workspace", "pandas"]:
            if kind == "pandas" and n > args.skip_pandas_above:
                continue
            runs = [run(kind, csv, DATA / f"bench_{kind}.duckdb") for _ in range(args.repeat)]
            runs.sort(key=lambda r: r["seconds"])
            results[kind] = runs[len(runs) // 2]
        base = results["duckdb_raw"]
        for kind, r in results.items():
            print(f"  {kind:<11} {r['seconds']:7.2f} s  ({r['seconds'] / base['seconds']:.2f}x raw DuckDB)  "
                  f"peak RSS {r['peak_mb']:6.0f} MB  rows {r['rows']:,}")
        for p in DATA.glob("bench_*.duckdb*"):
            p.unlink()


if __name__ == "__main__":
    main()
