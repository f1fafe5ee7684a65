"""Training speed and memory: core.models.train (default settings) vs one bare HistGradientBoostingClassifier fit.

    python bench/models.py [--rows 1000000] [--repeat 3]

Data: 1M customers x 20 features (15 numeric, 5 categorical; a planted logistic signal), saved once
as Parquet under bench/data. Each contender runs in its own subprocess (so peak RSS is its own);
loading the data is not timed. `train` does everything the Models page shows: hold-out split,
5-fold cross-validation (on a 50,000-row sample), the final fit, hold-out metrics, the baseline,
lift table and curves, permutation importance (3,000 rows x 5 repeats), partial dependence and the
leakage check. The baseline is `HistGradientBoostingClassifier(random_state=0).fit(X, y)` on all rows.

    python bench/models.py --wide

Wide tables: how fast `train` refuses 200 rows x 10,000 numeric columns (issue 10: it used to run for
over 5 minutes without a message), and how long a table at the limit (2,000 rows x 1,000 columns) trains.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"

CODE = {
    "bare_hgb": """
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
df = pd.read_parquet(PATH)
X = df.drop(columns=["customer_id", "bought"])
for c in X.columns:
    if X[c].dtype == object or str(X[c].dtype).startswith("str"):
        X[c] = X[c].astype("category")
y = df["bought"]
#START
HistGradientBoostingClassifier(random_state=0, categorical_features="from_dtype").fit(X, y)
extra = {}
""",
    "train": """
import pandas as pd
from core.models import train
df = pd.read_parquet(PATH)
#START
m = train(df, "bought")
extra = {"roc_auc": m.metrics["roc_auc"], "top": m.importance["feature"].head(3).tolist()}
""",
}


def make_data(rows: int, path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {"customer_id": np.arange(rows)}
    logit = np.full(rows, -1.0)
    for j in range(15):
        x = rng.gamma(2.0, 1.0, rows) if j % 3 == 0 else rng.normal(size=rows)
        cols[f"num_{j:02d}"] = x
        if j < 5:
            logit += (0.8 - 0.12 * j) * (x - x.mean()) / x.std()
    for j in range(5):
        levels = np.array([f"level_{i}" for i in range(4 + 3 * j)])
        x = rng.choice(levels, rows)
        cols[f"cat_{j}"] = x
        if j < 2:
            logit += np.where(x == levels[0], 0.8, 0.0)
    cols["bought"] = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(int)
    pd.DataFrame(cols).to_parquet(path)


def run(kind: str, path: Path) -> dict:
    script = (f"import sys, time, resource, json; sys.path.insert(0, {str(ROOT)!r})\nPATH = {str(path)!r}\n"
              + CODE[kind].replace("#START", "t0 = time.perf_counter()  # loading is not timed")
              + "\nprint(json.dumps({'seconds': time.perf_counter() - t0, "
                "'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **extra}))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


WIDE = """
import numpy as np, pandas as pd
from core.errors import DataError
from core.models import train
rng = np.random.default_rng(0)
rows, cols = ROWS, COLS
df = pd.DataFrame(rng.normal(size=(rows, cols)), columns=[f"f{i}" for i in range(cols)])
df["t"] = (rng.uniform(size=rows) < 1 / (1 + np.exp(-df["f0"] - df["f1"]))).astype(int)
#START
try:
    m = train(df, "t")
    extra = {"outcome": f"trained, AUC {m.metrics['roc_auc']:.3f}", "warnings": len(m.warnings)}
except DataError as e:
    extra = {"outcome": "refused: " + str(e)[:90] + " ..."}
"""


def wide() -> None:
    """Time train() on a too-wide table (refused) and on one at the width limit (trained)."""
    for rows, cols in ((200, 10_000), (2_000, 1_000)):
        CODE["wide"] = WIDE.replace("ROWS", str(rows)).replace("COLS", str(cols))
        r = run("wide", Path("unused"))
        print(f"{rows:,} rows x {cols:,} columns: {r['seconds']:.1f} s, peak RSS {r['peak_mb']:.0f} MB; {r['outcome']}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--wide", action="store_true", help="time the wide-table refusal instead")
    args = ap.parse_args()
    if args.wide:
        wide()
        return
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"customers_{args.rows}x20.parquet"
    if not path.exists():
        make_data(args.rows, path)
    print(f"{args.rows:,} customers x 20 features (15 numeric, 5 categorical)")
    results = {}
    for kind in ("bare_hgb", "train"):
        runs = sorted((run(kind, path) for _ in range(args.repeat)), key=lambda r: r["seconds"])
        for r in runs:
            print(f"  {kind:<9} {r['seconds']:6.2f} s  peak RSS {r['peak_mb']:6.0f} MB")
        results[kind] = runs[len(runs) // 2]
    base, ours = results["bare_hgb"], results["train"]
    ratio = ours["seconds"] / base["seconds"]
    print(f"baseline bare HistGradientBoostingClassifier fit: {base['seconds']:.2f} s, peak {base['peak_mb']:.0f} MB")
    print(f"train(df, 'bought') incl. CV, hold-out, importance: {ours['seconds']:.2f} s = {ratio:.2f}x baseline, "
          f"peak {ours['peak_mb']:.0f} MB; hold-out AUC {ours['roc_auc']:.3f}; top features {ours['top']}")
    print(f"target ratio <= 2: {'met' if ratio <= 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
