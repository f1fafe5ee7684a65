"""Which features separate the segments: a shallow surrogate decision tree and its simple rules."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier


@dataclass
class SurrogateTree:
    """A depth-limited tree that predicts the segment from readable (raw-unit) features."""

    importance: pd.DataFrame  # feature, importance (sums to 1), sorted descending
    rules: pd.DataFrame  # segment, rule, customers, coverage, precision
    fidelity: float  # share of customers whose segment the tree reproduces


def _fmt(value: float) -> str:
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}"


# One split on a tree path: (feature, op, value); op ">" / "≤" with a number, "is" / "is not" with a level.
Condition = tuple[str, str, float | str]


@dataclass
class _Bounds:
    """What a path says about one feature: the tightest bounds, the level it is, the levels it is not."""

    low: float | None = None
    high: float | None = None
    level: str | None = None
    not_levels: list[str] = field(default_factory=list)


def _simplify(conds: list[Condition]) -> str:
    """Merge a path's conditions: keep the tightest bound per feature, and 'is' over 'is not'."""
    if not conds:
        return "(everyone)"
    parts: dict[str, _Bounds] = {}
    for feat, op, value in conds:
        p = parts.setdefault(feat, _Bounds())
        if op == ">":
            p.low = float(value) if p.low is None else max(p.low, float(value))
        elif op == "≤":
            p.high = float(value) if p.high is None else min(p.high, float(value))
        elif op == "is":
            p.level = str(value)
        else:
            p.not_levels.append(str(value))
    text = []
    for feat, p in parts.items():
        if p.level is not None:
            text.append(f"{feat} is {p.level}")
        elif p.not_levels:
            text.append(f"{feat} is not {' / '.join(p.not_levels)}")
        if p.low is not None and p.high is not None:
            text.append(f"{_fmt(p.low)} < {feat} ≤ {_fmt(p.high)}")
        elif p.low is not None:
            text.append(f"{feat} > {_fmt(p.low)}")
        elif p.high is not None:
            text.append(f"{feat} ≤ {_fmt(p.high)}")
    return " and ".join(text)


def surrogate_tree(X: pd.DataFrame, labels: np.ndarray, source: dict[str, str], *,
                   max_depth: int = 4, random_state: int = 0) -> SurrogateTree:
    """Fit a tree on X (columns may be one-hot levels; `source` maps each to its original feature)."""
    n = len(X)
    tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=max(5, n // 200), random_state=random_state)
    tree.fit(X.to_numpy(dtype="float64"), labels)
    fidelity = float((tree.predict(X.to_numpy(dtype="float64")) == labels).mean())
    imp = pd.Series(tree.feature_importances_, index=X.columns).groupby(lambda c: source.get(c, c)).sum()
    importance = (imp.rename("importance").rename_axis("feature").reset_index()
                  .sort_values(["importance", "feature"], ascending=[False, True]).reset_index(drop=True))

    t = tree.tree_
    classes = tree.classes_
    seg_sizes = pd.Series(labels).value_counts()
    rows: list[dict[str, object]] = []

    def walk(node: int, conds: list[Condition]) -> None:
        if t.children_left[node] == -1:
            counts = t.value[node][0] * t.weighted_n_node_samples[node]
            best = int(np.argmax(counts))
            total = float(counts.sum())
            seg = int(classes[best])
            rows.append({
                "segment": seg,
                "rule": _simplify(conds),
                "customers": int(round(total)),
                "coverage": float(counts[best] / seg_sizes.get(seg, 1)),
                "precision": float(counts[best] / total) if total else 0.0,
            })
            return
        name = str(X.columns[t.feature[node]])
        thr = float(t.threshold[node])
        left: Condition
        right: Condition
        if "=" in name:
            col, level = name.split("=", 1)
            left, right = (col, "is not", level), (col, "is", level)
        else:
            left, right = (name, "≤", thr), (name, ">", thr)
        walk(int(t.children_left[node]), conds + [left])
        walk(int(t.children_right[node]), conds + [right])

    walk(0, [])
    rules = pd.DataFrame(rows, columns=["segment", "rule", "customers", "coverage", "precision"])
    # per segment keep its best leaves: the ones that cover most of it with a clear majority
    rules = rules.assign(score=rules["coverage"] * rules["precision"])
    rules = rules.sort_values(["segment", "score"], ascending=[True, False])
    first = ~rules.duplicated("segment")
    useful = (rules["precision"] >= 0.6) & (rules["coverage"] >= 0.05)
    rules = (rules[first | useful].groupby("segment").head(3).drop(columns="score").reset_index(drop=True))
    return SurrogateTree(importance=importance, rules=rules, fidelity=fidelity)
