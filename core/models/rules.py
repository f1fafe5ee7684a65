"""The rules of a decision-tree model ("tree"), in the marketer's words: one row per leaf.

    rules = tree_rules(model)     # model = train(df, "churned", algorithm="tree")
    rules[["rule", "customers", "share", "outcome"]]
    print(rules_text(rules))

Each leaf is a rule: the conditions on the way to it, on the original columns ("recency_days >
30.5", "channel is web", "channel is not web", "(or missing)" where missing values go that way),
how many training rows end there and the prediction (the share of the positive class for a yes/no
target, the most common class otherwise, the mean for a number). `leaf_of(model, df)` gives the
leaf of each row, so a rule can be checked against the model's own predictions (the tests do).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.errors import DataError


def _tree_parts(model: Any) -> tuple[Any, Any, list[str]]:
    if getattr(model, "algorithm", None) != "tree":
        raise DataError("Rules are shown for the decision tree ('tree' algorithm) only.")
    pipe = model.pipeline
    return pipe.named_steps["model"], pipe.named_steps["prepare"], [str(n) for n in
                                                                    pipe.named_steps["prepare"].get_feature_names_out()]


def _condition(name: str, categorical: list[str], threshold: float, left: bool, missing_left: bool | None) -> str:
    """The words for one split of model column `name` at `threshold` (left: value <= threshold)."""
    for c in sorted(categorical, key=len, reverse=True):
        if name.startswith(c + "_"):
            level = name[len(c) + 1:]  # one-hot column: 0/1, split at 0.5
            if level == "infrequent_sklearn":  # the encoder's group of rare levels
                return f"{c} is not a rare level" if left else f"{c} is a rare level"
            return f"{c} is not {level}" if left else f"{c} is {level}"
    text = f"{name} <= {threshold:,.6g}" if left else f"{name} > {threshold:,.6g}"
    if missing_left is not None and missing_left == left:
        text += " (or missing)"
    return text


def tree_rules(model: Any) -> pd.DataFrame:
    """One row per leaf (most customers first): leaf, rule, conditions (list of words), splits (the same
    exactly: model column, "<=" or ">", threshold, whether missing values go that way), customers
    (training rows), share, and the outcome: `p_<positive>` and `outcome` for a yes/no target, `outcome` (class or mean)
    otherwise."""
    tree, _, names = _tree_parts(model)
    t = tree.tree_
    categorical = list(model.categorical) if hasattr(model, "categorical") else []
    missing_left = getattr(t, "missing_go_to_left", None)
    rows: list[dict[str, Any]] = []

    def walk(node: int, path: list[str], splits: list[tuple[str, str, float, bool]]) -> None:
        if t.children_left[node] == -1:
            value = t.value[node][0]
            row: dict[str, Any] = {"leaf": node, "conditions": list(path), "splits": list(splits),
                                   "customers": int(t.n_node_samples[node])}
            if model.task == "classification":
                shares = value / value.sum() if value.sum() else value
                classes = list(tree.classes_)
                if len(classes) == 2 and model.positive is not None:
                    p = float(shares[classes.index(model.positive)])
                    row[f"p_{model.positive}"] = p
                    row["outcome"] = p
                else:
                    row["outcome"] = classes[int(np.argmax(shares))]
            else:
                row["outcome"] = float(value[0])
            rows.append(row)
            return
        name, threshold = names[t.feature[node]], float(t.threshold[node])
        goes_left = None if missing_left is None else bool(missing_left[node])
        walk(t.children_left[node], path + [_condition(name, categorical, threshold, True, goes_left)],
             splits + [(name, "<=", threshold, bool(goes_left))])
        walk(t.children_right[node], path + [_condition(name, categorical, threshold, False, goes_left)],
             splits + [(name, ">", threshold, goes_left is False)])

    walk(0, [], [])
    out = pd.DataFrame(rows)
    out["rule"] = ["if " + " and ".join(_merged(c, s)) if c else "every customer"
                   for c, s in zip(out["conditions"], out["splits"])]
    out["share"] = out["customers"] / out["customers"].sum()
    columns = ["leaf", "rule", "conditions", "splits", "customers", "share"] + [c for c in out.columns if c.startswith("p_")]
    out = out[columns + ["outcome"]]
    out = out.sort_values("customers", ascending=False, kind="stable").reset_index(drop=True)
    out.insert(0, "number", range(1, len(out) + 1))  # "rule 3" on the chart is row 3 of the table
    return out


def _merged(conditions: list[str], splits: list[tuple[str, str, float, bool]]) -> list[str]:
    """The words of a path with the splits on one number joined into a range ("23 < spend <= 42.7"),
    in the order each column first appears; level conditions and missing-value notes kept."""
    bounds: dict[str, list[Any]] = {}
    order: list[str] = []
    words: list[str] = []
    for text, (column, op, threshold, missing) in zip(conditions, splits):
        if " is " in text:  # a level of a category
            words.append(text)
            continue
        if column not in bounds:
            bounds[column] = [None, None, True]  # low (>), high (<=), missing rows go this way at every split
            order.append(column)
            words.append(column)
        low, high, all_missing = bounds[column]
        if op == ">":
            bounds[column][0] = threshold if low is None else max(low, threshold)
        else:
            bounds[column][1] = threshold if high is None else min(high, threshold)
        bounds[column][2] = all_missing and missing
    out = []
    for item in words:
        if item not in bounds:
            out.append(item)
            continue
        low, high, missing = bounds[item]
        text = (f"{low:,.6g} < {item} <= {high:,.6g}" if low is not None and high is not None else
                f"{item} > {low:,.6g}" if low is not None else f"{item} <= {high:,.6g}")
        out.append(text + (" (or missing)" if missing else ""))
    return out


def leaf_of(model: Any, df: pd.DataFrame) -> np.ndarray:
    """The leaf (tree_rules' `leaf`) each row of `df` ends in."""
    tree, prepare, _ = _tree_parts(model)
    from core.models.steps import model_frame

    X = prepare.transform(model_frame(df, list(model.numeric), list(model.categorical)))
    return np.asarray(tree.apply(np.asarray(X, dtype="float32")))


def rules_text(rules: pd.DataFrame, *, what: str = "outcome") -> str:
    """The rules as plain text, one paragraph per leaf (for a report or a copy button)."""
    lines = []
    for r in rules.itertuples():
        outcome = r.outcome
        said = f"{outcome:.1%}" if isinstance(outcome, float) and 0 <= outcome <= 1 and \
            any(c.startswith("p_") for c in rules.columns) else (f"{outcome:,.4g}" if isinstance(outcome, float)
                                                                 else str(outcome))
        lines.append(f"{r.rule}: {what} {said} ({int(r.customers):,} customers, {r.share:.1%})")
    return "\n".join(lines)
