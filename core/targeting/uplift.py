"""Uplift from a randomised campaign: whom contacting changes, and by how much.

`fit_uplift(data, treatment, outcome)` takes a per-customer test table (a treatment column with the arm
each customer was randomised to, a 0/1 or revenue outcome, features known before the send), fits
two-model (T-learner) or class-transformation learners on a training share, and reports on the hold-out:
the normalised Qini AUC and uplift@k (scikit-uplift's definitions, in core.targeting.uplift_metrics),
the Qini curve, uplift by decile, the features that drive the predicted uplift, and the four groups
(persuadables, sure things, lost causes, do-not-disturbs). With several treated arms there is one model
per arm against the control, never an arm folded into the control. `uplift_scores` gives the table the
Targeting page saves to the workspace.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from core.columns import is_control_name
from core.errors import DataError
from core.targeting.uplift_features import (
    PreparedData,
    default_features,
    feature_types,
    imbalanced_features,
    prepare_rows,
)
from core.targeting.uplift_metrics import qini_auc, qini_curve, uplift_at_k, uplift_by_decile
from core.targeting.uplift_report import (
    GROUP_TEXT,
    GROUPS,
    ArmReport,
    assign_groups,
    evaluate,
    group_summary,
    permutation_importance,
    readout_text,
)
from core.targeting.uplift_models import (
    Learner,
    OutcomeKind,
    balancing_weights,
    outcome_model,
    predict_outcome,
    preprocessor,
    transformed_outcome,
)

__all__ = ["qini_auc", "uplift_at_k", "qini_curve", "uplift_by_decile", "fit_uplift", "UpliftModel", "ArmReport",
           "guess_control_value", "uplift_scores", "assign_groups", "group_summary", "GROUPS", "GROUP_TEXT",
           "Method", "Learner", "readout_text"]

Method = Literal["two_model", "class_transformation"]
MIN_ROWS_PER_ARM = 50  # fewer treated or control rows than this: refuse (nothing can be learnt)
FEW_ROWS_PER_ARM = 500  # fewer than this: fit, but warn that the uplift is very uncertain
BALANCED = (0.45, 0.55)  # treated share inside which class transformation needs no warning
CURVE_POINTS = 500  # points kept per line of the stored Qini curves (the AUC uses every point)

# values that mean "not treated": control, holdout, no e-mail, none, untreated, placebo, 0, false ...


def guess_control_value(values: Sequence[Any]) -> Any:
    """The control among a treatment column's values: the one named like no treatment (control, holdout,
    'No E-Mail', none, untreated, placebo, psa, 0, False ...). Raises DataError asking the user to pick
    when no value, or more than one, reads like a control."""
    levels = list(dict.fromkeys(v for v in values if not _missing(v)))
    if len(levels) < 2:
        raise DataError(f"The treatment column has {len(levels)} value(s) ({', '.join(map(str, levels)) or 'none'}): "
                        "uplift needs treated and control customers.")
    # core.columns' rule, without A (A/B is not a treatment and its control) and with 0/False/no flags
    hits = [v for v in levels if is_control_name(v, letters=False, flags=True)]
    if len(hits) == 1:
        return hits[0]
    shown = ", ".join(repr(v) for v in levels[:12])
    if not hits:
        raise DataError(f"No treatment value reads like a control (control, holdout, 'No E-Mail', 0 ...) among "
                        f"{shown}: pick the control value (control=...).")
    raise DataError(f"Several treatment values read like a control ({', '.join(map(repr, hits))}): "
                    "pick the control value (control=...).")


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT


@dataclass(frozen=True)
class UpliftModel:
    """A fitted uplift model and its hold-out read-out.

    `.qini`, `.uplift_at_k`, `.curve`, `.deciles` and `.importance` are those of the first arm in `.arms`
    (the `treated` value given, else the first non-control value in sorted order); `.reports[arm]` has each
    arm's. `.importance`: permutation importance of the predicted uplift — how far, on average, shuffling a
    feature across hold-out customers moves their predicted uplift (mean absolute change, in outcome units),
    with `direction` the Spearman correlation of a numeric feature with the predicted uplift.
    Groups (`.groups`, `assign_groups`, uplift_scores' `group`) compare the predicted outcome if treated and
    if not with `.threshold`: two-model predicts both; class transformation predicts only the uplift, so its
    p_control comes from an outcome model fitted on the control rows and p_treated = p_control + uplift.
    """

    method: Method
    learner: Learner
    treatment: str
    outcome: str
    outcome_kind: OutcomeKind
    control: Any
    arms: tuple[Any, ...]
    features: tuple[str, ...]
    k: float | int
    threshold: float  # respond / not respond cut for the groups (the test's mean outcome)
    reports: dict[Any, ArmReport] = field(repr=False)
    # rows, dropped_treatment_missing, dropped_outcome_missing, dropped_other_arms (arms not chosen), used,
    # "rows: <control or arm>", training, hold_out. Missing feature values are imputed, never dropped.
    counts: dict[str, int]
    warnings: tuple[str, ...]
    feature_table: pd.DataFrame = field(repr=False)  # column, use, reason: why each column is or is not a feature
    groups: pd.DataFrame = field(repr=False)  # group_summary() over every row used
    _numeric: tuple[str, ...] = field(repr=False, default=())
    _categorical: tuple[str, ...] = field(repr=False, default=())
    _encoder: Any = field(repr=False, default=None)  # the ColumnTransformer fitted on the training rows
    _control_model: Any = field(repr=False, default=None)
    _arm_models: dict[Any, Any] = field(repr=False, default_factory=dict)  # arm -> fitted model

    @property
    def qini(self) -> float:
        return self.reports[self.arms[0]].qini

    @property
    def uplift_at_k(self) -> float:
        return self.reports[self.arms[0]].uplift_at_k

    @property
    def qini_by_arm(self) -> dict[Any, float]:
        return {a: r.qini for a, r in self.reports.items()}

    @property
    def uplift_at_k_by_arm(self) -> dict[Any, float]:
        return {a: r.uplift_at_k for a, r in self.reports.items()}

    @property
    def curve(self) -> pd.DataFrame:
        return self.reports[self.arms[0]].curve

    @property
    def deciles(self) -> pd.DataFrame:
        return self.reports[self.arms[0]].deciles

    @property
    def importance(self) -> pd.DataFrame:
        return self.reports[self.arms[0]].importance

    def summary(self) -> pd.DataFrame:
        """One row per arm: arm, qini, uplift_at_k, ate (observed average effect), holdout_rows (arm + control)."""
        return pd.DataFrame([{"arm": a, "qini": r.qini, "uplift_at_k": r.uplift_at_k, "ate": r.ate,
                              "holdout_rows": r.holdout_rows} for a, r in self.reports.items()],
                            columns=["arm", "qini", "uplift_at_k", "ate", "holdout_rows"])

    # ------------------------------------------------------------------ prediction
    def _frame(self, data: Any) -> pd.DataFrame:
        df = _to_pandas(data, list(self.features))
        missing = [c for c in self.features if c not in df.columns]
        if missing:
            raise DataError(f"The table lacks the model's feature column(s) {', '.join(missing)}: "
                            "score a table with the same columns as the test.")
        return df[list(self.features)]

    def _predict_all(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(uplift, p_treated) of shape (n, arms) and p_control of shape (n,), each model run once."""
        with threadpool_limits(1):
            M = self._encoder.transform(X)
            pc = predict_outcome(self._control_model, M, self.outcome_kind)
            if self.method == "two_model":
                pt = np.column_stack([predict_outcome(self._arm_models[a], M, self.outcome_kind) for a in self.arms])
                return pt - pc[:, None], pt, pc
            u = np.column_stack([2.0 * predict_outcome(self._arm_models[a], M, "binary") - 1.0 for a in self.arms])
        return u, np.clip(pc[:, None] + u, 0.0, 1.0), pc

    def predict_outcomes(self, data: Any) -> tuple[np.ndarray, np.ndarray]:
        """(p_treated, p_control): predicted outcome if treated, shape (n,) for one arm or (n, arms), and if
        not, shape (n,). For class transformation p_control comes from an outcome model on the control
        rows and p_treated = p_control + uplift, clipped to [0, 1]."""
        _, pt, pc = self._predict_all(self._frame(data))
        return (pt[:, 0] if len(self.arms) == 1 else pt), pc

    def predict(self, data: Any) -> np.ndarray:
        """Predicted uplift per row: P(y | treated) - P(y | control) (revenue difference for revenue).
        Shape (n,) for one treated arm, (n, arms) in `.arms` order for several."""
        u = self._predict_all(self._frame(data))[0]
        return u[:, 0] if len(self.arms) == 1 else u

    def best_arm(self, data: Any) -> np.ndarray:
        """Each row's arm with the highest predicted uplift (the only arm when there is one)."""
        u = self.predict(data)
        if u.ndim == 1:
            return np.full(len(u), self.arms[0], dtype=object)
        return np.asarray(self.arms, dtype=object)[np.argmax(u, axis=1)]

    def assign_groups(self, data: Any) -> np.ndarray:
        """Each row's group (persuadable, sure thing, lost cause, do not disturb) for its best arm."""
        scores = _score_rows(self, self._frame(data))
        return scores["group"].to_numpy(object)


def _to_pandas(data: Any, columns: list[str] | None = None) -> pd.DataFrame:
    """A pandas frame of an Ibis table (only the needed columns, when they exist) or a DataFrame as is."""
    if isinstance(data, pd.DataFrame):
        return data
    if hasattr(data, "execute") and hasattr(data, "columns"):
        if columns is not None:
            keep = [c for c in dict.fromkeys(columns) if c in data.columns]
            data = data.select(keep)
        return data.to_pandas()
    raise DataError("Expected a table (pandas DataFrame or Ibis table).")


def _score_rows(model: UpliftModel, X: pd.DataFrame) -> pd.DataFrame:
    """uplift, p_treated, p_control, group (and arm for several arms) per row, for each row's best arm."""
    u, pt, pc = model._predict_all(X)
    best = np.argmax(u, axis=1)
    rows = np.arange(len(u))
    out = pd.DataFrame({"uplift": u[rows, best], "p_treated": pt[rows, best], "p_control": pc})
    out["group"] = assign_groups(out["p_treated"], out["p_control"], model.threshold)
    if len(model.arms) > 1:
        out["arm"] = np.asarray(model.arms, dtype=object)[best]
    return out


def uplift_scores(model: UpliftModel, data: Any, id_column: str | Sequence[str]) -> pd.DataFrame:
    """The uplift-scores table to save to the workspace, one row per input row, in input order:
    <id column(s)>, uplift, uplift_decile (1 = the tenth with the highest uplift, ties by row order),
    p_treated, p_control, group, and with several arms `arm` (each row's best arm, whose uplift it shows).
    data: pandas DataFrame or Ibis table with the id and the model's feature columns."""
    ids = [id_column] if isinstance(id_column, str) else list(id_column)
    df = _to_pandas(data, ids + list(model.features))
    missing = [c for c in ids if c not in df.columns]
    if missing:
        raise DataError(f"The id column {', '.join(missing)} is not in the table: pick the customer id column.")
    if len(df) == 0:
        raise DataError("The table to score has no rows.")
    scores = _score_rows(model, model._frame(df))
    order = np.argsort(-scores["uplift"].to_numpy(), kind="stable")
    decile = np.empty(len(scores), dtype=int)
    decile[order] = np.arange(len(scores)) * 10 // len(scores) + 1
    out = df[ids].reset_index(drop=True).copy()
    out["uplift"] = scores["uplift"].to_numpy(float)
    out["uplift_decile"] = decile
    out["p_treated"] = scores["p_treated"].to_numpy(float)
    out["p_control"] = scores["p_control"].to_numpy(float)
    out["group"] = scores["group"].to_numpy(object)
    if "arm" in scores:
        out["arm"] = scores["arm"].to_numpy(object)
    return out


# ---------------------------------------------------------------------------------- fitting
def fit_uplift(data: Any, treatment: str, outcome: str, *, features: Sequence[str] | None = None,
               treated: Any = None, control: Any = None, method: Method = "two_model",
               learner: Learner = "gradient_boosting", holdout: float = 0.3, k: float | int = 0.3,
               random_state: int = 0) -> UpliftModel:
    """Fit an uplift model on a randomised test and read it out on a hold-out.

    data: pandas DataFrame or Ibis table, one row per customer. treatment: the column with each customer's
    arm (0/1, bool or labels such as Hillstrom's 'Womens E-Mail' / 'No E-Mail'). outcome: 0/1 (conversion)
    or numeric (revenue: two-model then fits regressors; class transformation needs 0/1 and refuses).
    control: the control value (default: the one value left when `treated` names all the others, else
    guessed by `guess_control_value`, DataError when unsure).
    treated: one arm or a list (default: every other value); rows of arms not chosen are dropped and counted.
    features: default `default_features` — every column but the treatment, the outcome, ids and row
    numbers, dates, near-unique text, text that only bands a numeric column (history_segment of history),
    columns named like results (visit, conversion, spend, revenue, orders ...; not when the name marks an
    earlier period: orders_last_year, prior_purchases, spend_prev_12m) or like things measured after the
    send (duration, refund, post_*), and columns that differ between an arm and the control at p < 0.001
    (randomisation balances anything known before the send, so a difference means the send moved it).
    `.feature_table` gives each column's reason. A post-send column that no rule recognises (named
    like a pre-send attribute and not moved by the send) is not caught: pass features to leave it out.
    method: "two_model" (one outcome model per arm and one for the control; uplift = difference) or
    "class_transformation" (one classifier of z = y*t + (1-y)*(1-t) per arm, uplift = 2 P(z) - 1; rows are
    weighted to a 50/50 split, with a warning when it was not near 50/50; p_control from a control model).
    learner: "gradient_boosting" (default) or "logistic", see core.targeting.uplift_models. Fitted on
    1 - holdout of the rows (stratified by arm and 0/1 outcome, seeded by random_state), evaluated on the
    rest; the returned model is the one fitted on the training rows. k: the top share (or count) for
    uplift@k. Native threads are limited to one (threadpoolctl) while fitting and predicting.
    """
    if method not in ("two_model", "class_transformation"):
        raise DataError(f"Unknown method {method!r}: use 'two_model' or 'class_transformation'.")
    if learner not in ("gradient_boosting", "logistic"):
        raise DataError(f"Unknown learner {learner!r}: use 'gradient_boosting' or 'logistic'.")
    if not 0.05 <= holdout <= 0.8:
        raise DataError(f"The hold-out share {holdout} must be between 0.05 and 0.8 (0.3 is usual).")
    df = _to_pandas(data)
    prep: PreparedData = prepare_rows(df, treatment, outcome, treated=treated, control=control,
                                      guess_control=guess_control_value, min_rows=MIN_ROWS_PER_ARM,
                                      few_rows=FEW_ROWS_PER_ARM)
    if method == "class_transformation" and prep.kind != "binary":
        raise DataError(f"Class transformation needs a 0/1 outcome; '{outcome}' is numeric (revenue): use "
                        "method='two_model', which fits regressors for revenue.")
    warnings = list(prep.warnings)
    if features is None:
        feature_table = default_features(prep.frame, treatment, outcome, prep.arm_codes)
        chosen = feature_table.loc[feature_table["use"], "column"].tolist()
    else:
        chosen = list(dict.fromkeys(features))
        bad = [c for c in chosen if c not in df.columns]
        if bad:
            raise DataError(f"Feature column(s) {', '.join(bad)} not in the table.")
        if treatment in chosen or outcome in chosen:
            raise DataError("The treatment and the outcome cannot be features: remove them from features.")
        feature_table = pd.DataFrame({"column": chosen, "use": True, "reason": "chosen"})
        for col, p in imbalanced_features(prep.frame, chosen, prep.arm_codes):
            warnings.append(f"'{col}' differs between the arms (p = {p:.1g}); in a randomised test that "
                            "suggests it was measured after the send: leave it out unless you know it was not.")
    if not chosen:
        raise DataError("No usable feature columns: pass features= with columns known before the send.")
    numeric, categorical = feature_types(prep.frame, chosen)
    frame = prep.frame
    arm_codes = prep.arm_codes  # 0 = control, j = arms[j - 1]
    y_all = frame[outcome].to_numpy(float)
    strata = arm_codes.astype(str)
    if prep.kind == "binary":
        strata = np.char.add(np.char.add(strata, "_"), y_all.astype(int).astype(str))
    rng = np.random.default_rng(random_state)
    test = np.zeros(len(frame), dtype=bool)
    for s in np.unique(strata):  # stratified split, done by hand so tiny strata still split sensibly
        idx = np.flatnonzero(strata == s)
        n_test = int(round(len(idx) * holdout))
        test[rng.choice(idx, n_test, replace=False)] = True
    train = ~test
    X = frame[chosen]
    with threadpool_limits(1):
        encoder = preprocessor(numeric, categorical, scale=learner == "logistic").fit(X[train])
        M = encoder.transform(X)
        models: dict[Any, Any] = {}
        ctrl = train & (arm_codes == 0)
        control_model = outcome_model(M[ctrl], y_all[ctrl], prep.kind, learner, random_state)
        for j, arm in enumerate(prep.arms, start=1):
            if method == "two_model":
                rows = train & (arm_codes == j)
                models[arm] = outcome_model(M[rows], y_all[rows], prep.kind, learner, random_state)
            else:
                rows = train & ((arm_codes == j) | (arm_codes == 0))
                t = (arm_codes[rows] == j).astype(int)
                share = float(t.mean())
                if not BALANCED[0] <= share <= BALANCED[1]:
                    warnings.append(f"Class transformation assumes a 50/50 split, but {share:.1%} of the rows "
                                    f"of arm '{arm}' and the control are treated: rows were weighted to 50/50 "
                                    "to correct it; two-model needs no such assumption.")
                z = transformed_outcome(y_all[rows].astype(int), t)
                models[arm] = outcome_model(M[rows], z, "binary", learner, random_state,
                                            sample_weight=balancing_weights(t))
    pooled_mean = float(y_all.mean())
    draft = UpliftModel(method=method, learner=learner, treatment=treatment, outcome=outcome,
                        outcome_kind=prep.kind, control=prep.control, arms=tuple(prep.arms), features=tuple(chosen),
                        k=k, threshold=pooled_mean, reports={}, counts={}, warnings=(), feature_table=feature_table,
                        groups=pd.DataFrame(), _numeric=tuple(numeric), _categorical=tuple(categorical),
                        _encoder=encoder, _control_model=control_model, _arm_models=models)
    test_idx = np.flatnonzero(test)
    u_test = draft.predict(X.iloc[test_idx]).reshape(len(test_idx), -1)
    importance = permutation_importance(draft.predict, X.iloc[test_idx], draft.arms, numeric, random_state)
    reports: dict[Any, ArmReport] = {}
    for j, arm in enumerate(prep.arms, start=1):
        sel = (arm_codes[test_idx] == j) | (arm_codes[test_idx] == 0)
        y_h, t_h, u_h = y_all[test_idx][sel], (arm_codes[test_idx][sel] == j).astype(int), u_test[sel, j - 1]
        q, q_p, at_k, notes = evaluate(y_h, u_h, t_h, k)
        warnings += [f"Arm '{arm}': {n}" for n in notes]
        curve = qini_curve(y_h, u_h, t_h, max_points=CURVE_POINTS) if t_h.min() != t_h.max() else pd.DataFrame()
        deciles = uplift_by_decile(y_h, u_h, t_h, bins=min(10, len(y_h))) if t_h.min() != t_h.max() else \
            pd.DataFrame()
        ate = float(y_h[t_h == 1].mean() - y_h[t_h == 0].mean()) if t_h.min() != t_h.max() else float("nan")
        reports[arm] = ArmReport(arm=arm, qini=q, uplift_at_k=at_k, ate=ate, holdout_rows=int(sel.sum()),
                                 curve=curve, deciles=deciles, importance=importance[arm], qini_p=q_p)
    counts = dict(prep.counts)
    counts.update({"training": int(train.sum()), "hold_out": int(test.sum())})
    scored = _score_rows(draft, X)
    model = replace(draft, reports=reports, counts=counts, warnings=tuple(warnings),
                    groups=group_summary(scored["group"]))
    return model
