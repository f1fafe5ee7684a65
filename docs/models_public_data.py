"""Re-run the numbers of docs/models_public_data.md on the public files in ../shared/data.

    .venv/bin/python docs/models_public_data.py [path/to/shared/data]

Loads each file through the workspace loader (as an upload would), trains with the defaults the
Models page uses (features from suggest_features) and prints the markdown rows of the document.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.workspace import Workspace  # noqa: E402
from core.models import suggest_features, train  # noqa: E402


def row(label: str, model) -> str:
    m, cv, lift = model.metrics, model.cv_metrics, model.lift
    cv_txt = f"{cv['roc_auc'].mean():.3f} ± {cv['roc_auc'].std():.3f}" if "roc_auc" in cv and cv["roc_auc"].notna().any() else ""
    top = ", ".join(model.importance.sort_values("importance", ascending=False)["feature"].head(5)) \
        if model.algorithm != "baseline" else ""
    top_lift = f"{lift['lift'].iloc[0]:.2f}x" if lift is not None else ""
    capture = f"{lift['cumulative_capture'].iloc[2]:.1%}" if lift is not None else ""
    return f"| {label} | {m['roc_auc']:.3f} | {m['pr_auc']:.3f} | {cv_txt} | {top_lift} | {capture} | {top} |"


def main(shared: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "w.duckdb")
        bank_result = ws.ingest_csv(str(shared / "bank_marketing" / "bank-full.csv"), "bank")
        telco_result = ws.ingest_csv(str(shared / "telco_churn" / "Telco-Customer-Churn.csv"), "telco")
        print("bank load:", bank_result.rows, "rows,", bank_result.rejected_rows, "rejected")
        print("telco load:", telco_result.rows, "rows,", telco_result.rejected_rows, "rejected;",
              "notes:", "; ".join(getattr(telco_result, "notes", []) or getattr(telco_result, "warnings", [])))
        bank, telco = ws.read("bank"), ws.read("telco")
        advice = suggest_features(bank, "y")
        print("bank left out:", advice.table.loc[~advice.table["use"], ["column", "reason"]].to_dict("records"))
        every = [c for c in bank.columns if c != "y"]
        runs = [("gradient boosting, **with** `duration` (chosen by hand)", dict(features=every)),
                ("gradient boosting, defaults (without `duration`)", {}),
                ("logistic regression, defaults", dict(algorithm="linear")),
                ("baseline (majority class)", dict(algorithm="baseline"))]
        for label, kwargs in runs:
            started = time.perf_counter()
            model = train(bank, "y", **kwargs)
            print(row(label, model), f"<!-- {time.perf_counter() - started:.0f} s -->")
        advice = suggest_features(telco, "Churn")
        print("telco left out:", advice.table.loc[~advice.table["use"], ["column", "reason"]].to_dict("records"))
        print("telco TotalCharges type:", ws.columns("telco").get("TotalCharges"), "missing:",
              int(telco["TotalCharges"].isna().sum()))
        for label, algorithm in [("gradient boosting", "gradient_boosting"), ("logistic regression", "linear"),
                                 ("random forest", "random_forest")]:
            started = time.perf_counter()
            model = train(telco, "Churn", algorithm=algorithm)
            print(row(label, model), f"<!-- {time.perf_counter() - started:.0f} s -->")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data")
