"""K-means customer segments: pick k, fit, profile, name, explain and check stability.

`kmeans_segments` composes steps that can also be called alone, each returning a small frozen
result: `choose_k` (KChoice: the k sweep, recommended k and why), `fit_segments` (SegmentFit: the
final fit), `stability` (Stability: adjusted Rand index per resample, mean, spread) and
`segment_map` (SegmentMap: the PCA map).

Large tables stay fast: the k sweep, silhouette, stability, surrogate tree and map use a seeded
sample; only the final fit (started from the sample's best centres) and the assignment of every
customer touch all rows.
"""

from __future__ import annotations

import contextlib
import warnings as _warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import (adjusted_rand_score, calinski_harabasz_score, davies_bouldin_score, pairwise_distances,
                             silhouette_score)

from core.errors import DataError
from core.segments.explain import surrogate_tree
from core.columns import looks_like_id
from core.segments.features import require_one_row_per_customer
from core.segments.naming import segment_names
from core.segments.preprocess import (Preprocessing, build_pipeline, check_features, frame_for, log_columns,
                                      transform_checked)

Progress = Callable[[float, str], None]
SELECTION_COLUMNS = ["k", "inertia", "silhouette", "calinski_harabasz", "davies_bouldin"]
SILHOUETTE_OVERRIDE = 0.1  # a k whose silhouette beats the rank choice by this much wins (clear, simple structure)
MIN_SEGMENT_ROWS = 5
SWEEP_SAMPLE = 10_000  # k sweep, stability, rules: enough to find the structure, cheap on 1M customers
FIT_SAMPLE = 50_000  # medians, clip quantiles and scaling are learnt from at most this many customers
# (500 customers beyond each 1% clip point; 100,000 cost 0.08 s more on 1M customers for the same fit)
SILHOUETTE_SAMPLE = 1_500  # silhouette is quadratic in the sample size
SMALL_ROWS = 50_000  # fits on at most this many rows run on one native thread (see _one_thread)
SWEEP_INITS = 4  # k-means++ restarts per k on the sample; 2 when the data is larger than the sample
MAP_SAMPLE = 4_000
STABILITY_RUNS = 5
MIN_SEGMENT_SHARE = 0.01
PREFERRED_K = range(3, 9)  # recommended unless a k outside is clearly better separated (see _recommend)
OUTSIDE_MARGIN = 0.1  # silhouette lead over the best k in PREFERRED_K that a k outside it needs
OUTSIDE_MIN_SILHOUETTE = 0.5  # ... and the silhouette it needs at least ("reasonable structure")


@dataclass
class SegmentResult:
    """A fitted segmentation. Segments are numbered 1..k, largest first."""

    labels: np.ndarray
    k: int
    selection: pd.DataFrame
    profile: pd.DataFrame
    names: dict[int, str]
    importance: pd.DataFrame
    stability: float
    features: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    reason: str = ""
    distances: np.ndarray | None = None
    profile_detail: pd.DataFrame | None = None
    effects: pd.DataFrame | None = None
    rules: pd.DataFrame | None = None
    fidelity: float = float("nan")
    stability_runs: list[float] = field(default_factory=list)
    smallest_share: pd.Series | None = None  # per k in the sweep: share of customers in the smallest segment
    map: pd.DataFrame | None = None
    map_variance: tuple[float, float] = (float("nan"), float("nan"))
    logged: list[str] = field(default_factory=list)
    preprocessing: Preprocessing | None = None
    warnings: list[str] = field(default_factory=list)
    _pipeline: Any = None
    _model: Any = None
    _relabel: np.ndarray | None = None

    def _transform(self, df: pd.DataFrame) -> np.ndarray:
        if not isinstance(df, pd.DataFrame):
            raise DataError("Pass a pandas DataFrame with the segmentation's feature columns.")
        frame = frame_for(df, [f for f in self.features if f not in self.categorical], list(self.categorical))
        return transform_checked(self._pipeline, frame, self.logged)

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Assign customers (rows of df, same feature columns) to the nearest segment (1..k)."""
        X = self._transform(df)
        if self._relabel is None:
            raise DataError("This segmentation has no fitted model; build the segments again.")
        return self._relabel[self._model.predict(X)]

    def distance(self, df: pd.DataFrame) -> np.ndarray:
        """Distance of each customer to the centre of its nearest segment (in the scaled feature space)."""
        return self._model.transform(self._transform(df)).min(axis=1)

    def segment_table(self) -> pd.DataFrame:
        """Segment, name, customers and share in one small table."""
        out = self.profile[["size", "share"]].copy()
        out.insert(0, "name", [self.names.get(int(s), f"Segment {s}") for s in out.index])
        return out


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run the small-sample work (sweep, restarts, stability, silhouette, rules) on one native thread.

    On a few thousand rows OpenMP's per-iteration hand-over costs far more than the work: on this
    2-core machine KMeans on 10,000 x 10 took 150 ms (k = 3) to 620 ms (k = 10) with two threads
    against 5-14 ms with one, which made the k sweep and the stability resamples of the 1M x 10
    blobs bench 3.9 s of its 5.4 s. The final fit on every customer keeps the threads it is given.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _report(progress: Progress | None, share: float, message: str) -> None:
    if progress is not None:
        progress(min(max(share, 0.0), 1.0), message)


def _ordinal(place: int) -> str:
    return {1: "best", 2: "2nd best", 3: "3rd best"}.get(place, f"{place}th")


def _rank_choice(eligible: pd.DataFrame) -> tuple[Any, bool, pd.DataFrame]:
    """(row label of the best k, whether the silhouette override picked it, the per-measure ranks)."""
    ranks = pd.DataFrame({
        "silhouette": eligible["silhouette"].rank(ascending=False, method="min"),
        "calinski_harabasz": eligible["calinski_harabasz"].rank(ascending=False, method="min"),
        "davies_bouldin": eligible["davies_bouldin"].rank(ascending=True, method="min"),
    }, index=eligible.index)
    score = (ranks["silhouette"] + 2 * ranks["calinski_harabasz"] + ranks["davies_bouldin"]) / 4
    order = pd.DataFrame({"score": score, "sil": -eligible["silhouette"], "k": eligible["k"]}).sort_values(
        ["score", "sil", "k"])
    best = order.index[0]
    by_silhouette = eligible["silhouette"].idxmax()
    override = bool(eligible.loc[by_silhouette, "silhouette"]
                    >= eligible.loc[best, "silhouette"] + SILHOUETTE_OVERRIDE)
    return (by_silhouette if override else best), override, ranks


def _recommend(selection: pd.DataFrame, smallest: pd.Series, n: int) -> tuple[int, str]:
    """The recommended k and why: the best of k = 3..8 unless a k outside is clearly better separated.

    Inside the preferred range PREFERRED_K (3..8: few enough to act on, enough to differ from a plain
    high/low split) the best weighted mean rank wins: silhouette (high), Calinski-Harabasz (high,
    counted twice), Davies-Bouldin (low). In a simulation of 60 random Gaussian blob sets (2-8
    clusters, 2-8 features) Calinski-Harabasz alone found the planted k in 85% of cases, silhouette
    80%, Davies-Bouldin 72%; the weighted rank matched Calinski-Harabasz and avoided its failures at
    k = 10. Rank sums ignore how large the differences are, so a k whose silhouette is higher by
    SILHOUETTE_OVERRIDE (0.1) or more overrides the rank choice.

    A k outside 3..8 (k = 2, or 9 and 10) is recommended only when the data say so clearly: its
    silhouette is at least OUTSIDE_MIN_SILHOUETTE (0.5, "reasonable structure" by Kaufman and
    Rousseeuw) and beats the best silhouette of k = 3..8 by OUTSIDE_MARGIN (0.1). Real customer
    bases are mostly a continuum where k = 2 scores a little higher on every measure just because it
    is the coarsest cut (UCI Online Retail: 0.314 against 0.283 at k = 3); two planted, well
    separated groups give 0.8 against 0.5. With this rule, 63 random Gaussian blob sets (2-8 planted
    clusters, 2-8 features, 1,500 points) got the planted k back in 84% of cases (k = 2: 8 of 9); the
    misses were overlapping blobs, one k too low. k values that leave a segment under 1% of
    customers (or under 5 customers) are not recommended.
    """
    floor = max(MIN_SEGMENT_SHARE, MIN_SEGMENT_ROWS / max(n, 1))
    too_small = smallest.reindex(selection.index) < floor
    eligible = selection[~too_small]
    note = ""
    if eligible.empty:
        eligible = selection
    elif too_small.any():
        note = (f" k = {', '.join(str(int(k)) for k in selection.loc[too_small, 'k'])}"
                f" left out: a segment under {floor:.0%} of customers.")
    inside = eligible["k"].isin(list(PREFERRED_K))
    preferred = eligible[inside] if inside.any() else eligible
    span = f"k = {PREFERRED_K.start}..{PREFERRED_K.stop - 1}"
    best, override, ranks = _rank_choice(preferred)
    row = preferred.loc[best]
    k = int(row["k"])
    places = {m: int(ranks.loc[best, m]) for m in ranks.columns}
    among = f" among {span}" if inside.any() and not inside.all() else ""
    reason = (f"k = {k} ranks best{among} over the quality measures: silhouette "
              f"{row['silhouette']:.3f} ({_ordinal(places['silhouette'])}), Calinski-Harabasz "
              f"{row['calinski_harabasz']:,.0f} ({_ordinal(places['calinski_harabasz'])}), Davies-Bouldin "
              f"{row['davies_bouldin']:.3f} ({_ordinal(places['davies_bouldin'])}; lower is better).")
    if override:
        reason = (f"k = {k} has a clearly higher silhouette ({row['silhouette']:.3f}) than any other k{among}, so "
                  f"the segments are well separated; Calinski-Harabasz {row['calinski_harabasz']:,.0f}, "
                  f"Davies-Bouldin {row['davies_bouldin']:.3f} (lower is better).")
    outside = eligible[~inside] if inside.any() else eligible.iloc[0:0]
    if not outside.empty:
        best_inside = float(preferred["silhouette"].max())
        other = outside.loc[outside["silhouette"].idxmax()]
        k_other, sil_other = int(other["k"]), float(other["silhouette"])
        lead = sil_other - best_inside
        if sil_other >= OUTSIDE_MIN_SILHOUETTE and lead >= OUTSIDE_MARGIN:
            k = k_other
            reason = (f"k = {k}: its silhouette {sil_other:.3f} beats the best of {span} ({best_inside:.3f}) by "
                      f"{lead:.3f}, more than the {OUTSIDE_MARGIN} margin a k outside {span} needs, so the "
                      f"customers fall clearly into {k} well-separated groups; Calinski-Harabasz "
                      f"{other['calinski_harabasz']:,.0f}, Davies-Bouldin {other['davies_bouldin']:.3f} "
                      "(lower is better).")
        elif lead > 0:
            weak = (f"; its silhouette is under {OUTSIDE_MIN_SILHOUETTE}, so the customers form more a continuum "
                    "than separate groups") if sil_other < OUTSIDE_MIN_SILHOUETTE else ""
            reason += (f" k = {k_other} has a higher silhouette ({sil_other:.3f} against {best_inside:.3f}), but not "
                       f"clearly: a k outside {span} needs a silhouette of at least {OUTSIDE_MIN_SILHOUETTE} and "
                       f"{OUTSIDE_MARGIN} above the best of {span}{weak}"
                       + (". Two segments are rarely actionable" if k_other == 2 else "")
                       + f". Choose k = {k_other} yourself if you want it.")
    return k, reason + note


def _effects(X: np.ndarray, labels: np.ndarray, names: list[str], segments: list[int]) -> pd.DataFrame:
    """Standardised difference of each segment's mean from the overall mean, per model input."""
    mean, sd = X.mean(axis=0), X.std(axis=0)
    sd[sd == 0] = 1.0
    codes = np.searchsorted(np.asarray(segments), labels)  # segment -> 0..k-1
    counts = np.bincount(codes, minlength=len(segments)).astype("float64")
    sums = np.stack([np.bincount(codes, weights=X[:, j], minlength=len(segments)) for j in range(X.shape[1])], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rows = (sums / counts[:, None] - mean) / sd
    return pd.DataFrame(rows, index=pd.Index(segments, name="segment"), columns=names)


def _segment_means(num: pd.DataFrame, labels: np.ndarray, segments: list[int]) -> pd.DataFrame:
    """Per-segment means of each column, skipping missing values (pandas' groupby mean, by bincount:
    0.04 -> 0.01 s on 1M customers x 10)."""
    codes = np.searchsorted(np.asarray(segments), labels)
    out = {}
    for c in num.columns:
        v = num[c].to_numpy(dtype="float64", na_value=np.nan)
        seen = ~np.isnan(v)
        sums = np.bincount(codes, weights=np.where(seen, v, 0.0), minlength=len(segments))
        counts = np.bincount(codes, weights=seen.astype("float64"), minlength=len(segments))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[c] = np.where(counts > 0, sums / counts, np.nan)
    return pd.DataFrame(out, index=pd.Index(segments, name="segment"))


def _profiles(raw: pd.DataFrame, labels: np.ndarray, numeric: list[str], categorical: list[str],
              segments: list[int], median_rows: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Profile (size, share, means) and long detail (mean, median, overall, index = 100 x mean / overall).

    Means and sizes use every customer; medians use `median_rows` (a large random sample) when given.
    """
    lab = pd.Series(labels, index=raw.index, name="segment")
    sizes = lab.value_counts().reindex(segments).fillna(0).astype(int)
    profile = pd.DataFrame({"size": sizes, "share": sizes / max(len(lab), 1)})
    profile.index.name = "segment"
    detail_rows = []
    if numeric:
        num = raw[numeric]
        means = _segment_means(num, labels, segments)
        med_num, med_lab = (num, lab) if median_rows is None else (num.iloc[median_rows], lab.iloc[median_rows])
        medians = med_num.groupby(med_lab).median().reindex(segments)
        overall_mean, overall_median = num.mean(), med_num.median()
        for c in numeric:
            profile[c] = means[c]
            for s in segments:
                om = float(overall_mean[c])
                detail_rows.append((c, s, float(means.at[s, c]), float(medians.at[s, c]), om,
                                    float(overall_median[c]), 100 * float(means.at[s, c]) / om if om else np.nan))
    for c in categorical:
        dummies = pd.get_dummies(raw[c], prefix=c, prefix_sep="=").astype(float)
        shares = dummies.groupby(lab).mean().reindex(segments)
        overall = dummies.mean()
        for col in dummies.columns:
            profile[col] = shares[col]
            for s in segments:
                o = float(overall[col])
                detail_rows.append((col, s, float(shares.at[s, col]), np.nan, o, np.nan,
                                    100 * float(shares.at[s, col]) / o if o else np.nan))
    detail = pd.DataFrame(detail_rows, columns=["feature", "segment", "mean", "median", "overall_mean",
                                                "overall_median", "index"])
    return profile, detail


# ----------------------------------------------------------------- the steps kmeans_segments reports
@dataclass(frozen=True, eq=False)
class KChoice:
    """The k sweep and the recommended k (step "Trying k = ...").

    selection: one row per k tried (SELECTION_COLUMNS: k, inertia scaled to all customers, silhouette,
    Calinski-Harabasz, Davies-Bouldin); empty when k was given. smallest_share: per row of selection,
    the share of customers in that k's smallest segment. model: the sweep's K-means fit at k (None
    when k was given), which the final fit starts from.
    """

    k: int
    reason: str
    selection: pd.DataFrame
    smallest_share: pd.Series
    model: KMeans | None = None

    @classmethod
    def given(cls, k: int) -> "KChoice":
        """The choice when the user picked k: no sweep."""
        return cls(k=k, reason=f"k = {k} was chosen by you.", selection=pd.DataFrame(columns=SELECTION_COLUMNS),
                   smallest_share=pd.Series(dtype="float64"))


@dataclass(frozen=True, eq=False)
class SegmentFit:
    """The final K-means fit (step "Fitting k segments on all customers").

    labels: segment 1..k per row of X, segment 1 the largest; distances: each row's distance to its
    segment's centre (scaled feature space); relabel: maps the model's cluster numbers to segments.
    """

    k: int
    labels: np.ndarray
    distances: np.ndarray
    model: KMeans
    relabel: np.ndarray


@dataclass(frozen=True, eq=False)
class Stability:
    """Agreement of refits on resamples with the segments (step "Checking stability across resamples").

    runs: adjusted Rand index of each resample's refit against the segments (1 = the same split);
    mean: their mean; spread: their standard deviation (ddof 1; NaN with fewer than 2 runs).
    """

    runs: tuple[float, ...]
    mean: float
    spread: float


@dataclass(frozen=True, eq=False)
class SegmentMap:
    """Customers on the first two principal components (step "Drawing the segment map").

    points: pc1, pc2, segment and row (position in the table) of the mapped customers; variance:
    the share of variance each component explains (NaN with a single input feature, where pc1 is
    that feature and pc2 is 0).
    """

    points: pd.DataFrame
    variance: tuple[float, float]


@dataclass(frozen=True, eq=False)
class _Prepared:
    raw: pd.DataFrame  # the feature columns (numeric as float64, categorical as text)
    X: np.ndarray  # K-means inputs, one row per customer
    pipeline: Any  # fitted ColumnTransformer
    logged: list[str]
    inputs: list[str]  # readable names of the columns of X


def _within(progress: Progress | None, start: float, span: float) -> Progress | None:
    """A step's own progress (share 0..1 of the step) as a share start..start + span of the whole job."""
    if progress is None:
        return None
    outer = progress
    return lambda share, message: outer(start + span * share, message)


def _candidate_ks(k_range: Iterable[int], n: int) -> list[int]:
    """The k values worth trying on n customers (2 or more, about 5 customers per segment at least)."""
    ks = sorted({int(x) for x in k_range if int(x) >= 2})
    if not ks:
        raise DataError("k_range must include at least one k of 2 or more.")
    if n < 3:
        raise DataError(f"There are only {n} customers; segments need at least 3.")
    ks = [x for x in ks if x <= max(2, n // MIN_SEGMENT_ROWS)]  # at least ~5 customers per segment
    if not ks:
        raise DataError(f"There are {n:,} customers, fewer than the smallest k tried; pick a smaller k.")
    return ks


def _prepare(df: pd.DataFrame, numeric: list[str], categorical: list[str], prep: Preprocessing,
             rng: np.random.Generator) -> _Prepared:
    """Learn the preprocessing (on at most FIT_SAMPLE customers drawn from rng) and transform everyone."""
    n = len(df)
    raw = frame_for(df, numeric, categorical)
    fit_rows = raw if n <= FIT_SAMPLE else raw.iloc[np.sort(rng.choice(n, size=FIT_SAMPLE, replace=False))]
    logged = log_columns(fit_rows, numeric, prep)
    pipeline = build_pipeline(numeric, categorical, logged, prep)
    with np.errstate(all="ignore"):
        pipeline.fit(fit_rows)
    X = transform_checked(pipeline, raw, logged)
    inputs = [str(c) for c in pipeline.get_feature_names_out()]
    inputs = [c if c in numeric else _onehot_name(c, categorical) for c in inputs]
    return _Prepared(raw=raw, X=X, pipeline=pipeline, logged=logged, inputs=inputs)


def choose_k(
    X: np.ndarray,
    k_range: Iterable[int] = range(2, 11),
    *,
    random_state: int = 0,
    n: int | None = None,
    silhouette_rows: np.ndarray | None = None,
    n_init: int | None = None,
    progress: Progress | None = None,
) -> KChoice:
    """Fit K-means for each k in k_range on X and recommend one (see _recommend for the rule).

    X: the scaled K-means inputs, all customers or a sample of them. n: how many customers X stands
    for (default len(X)): inertia is scaled to n, and k values leaving a segment under 1% (or 5
    customers) of them are not recommended. silhouette_rows: rows of X the silhouette is computed on
    (default: a seeded sample of SILHOUETTE_SAMPLE); n_init: k-means++ restarts per k (default
    SWEEP_INITS, 2 when X is a sample). progress(share, message) gets this step's own share 0..1.
    Raises DataError when no k can be tried or every k gives a single segment.
    """
    X = np.asarray(X, dtype="float64")
    total = len(X) if n is None else int(n)
    ks = _candidate_ks(k_range, total)
    if silhouette_rows is None:
        silhouette_rows = np.random.default_rng(random_state).choice(
            len(X), size=min(len(X), SILHOUETTE_SAMPLE), replace=False)
    inits = n_init if n_init is not None else (SWEEP_INITS if len(X) == total else 2)
    rows, shares, fits = [], [], {}
    threads = _one_thread() if len(X) <= SMALL_ROWS else contextlib.nullcontext()
    with threads:
        # the silhouette rows' distances once for every k (the same scores; 9 k values: 0.08 -> 0.05 s)
        between = pairwise_distances(X[silhouette_rows])
        for i, kk in enumerate(ks):
            _report(progress, i / len(ks), f"Trying k = {kk} ({i + 1} of {len(ks)})")
            km = KMeans(n_clusters=kk, n_init=inits, random_state=random_state).fit(X)
            fits[kk] = km
            lab = km.labels_
            n_labels = len(np.unique(lab))
            sil = (silhouette_score(between, lab[silhouette_rows], metric="precomputed")
                   if len(np.unique(lab[silhouette_rows])) > 1 else np.nan) if n_labels > 1 else np.nan
            rows.append({
                "k": kk, "inertia": float(km.inertia_) * (total / len(X)),
                "silhouette": float(sil),
                "calinski_harabasz": float(calinski_harabasz_score(X, lab)) if n_labels > 1 else np.nan,
                "davies_bouldin": float(davies_bouldin_score(X, lab)) if n_labels > 1 else np.nan,
            })
            shares.append(float(np.bincount(lab, minlength=kk).min() / len(lab)))
    selection = pd.DataFrame(rows, columns=SELECTION_COLUMNS)
    smallest = pd.Series(shares, index=selection.index, name="smallest_share")
    if selection[["silhouette", "calinski_harabasz", "davies_bouldin"]].isna().all().all():
        raise DataError("Every k gave a single segment: the customers are too alike on these features.")
    k, reason = _recommend(selection.dropna(subset=["silhouette", "calinski_harabasz", "davies_bouldin"]),
                           smallest, total)
    return KChoice(k=k, reason=reason, selection=selection, smallest_share=smallest, model=fits[k])


def _distances(X: np.ndarray, centres: np.ndarray, labels: np.ndarray, block: int = 32_768) -> np.ndarray:
    """Each row's distance to its segment's centre, in blocks that stay in the CPU cache (0.07 s as
    one expression on 1M x 10, 0.025 s this way)."""
    out = np.empty(len(X))
    for start in range(0, len(X), block):
        gap = X[start:start + block] - centres[labels[start:start + block]]
        out[start:start + block] = np.einsum("ij,ij->i", gap, gap)
    return np.sqrt(out, out=out)


def fit_segments(
    X: np.ndarray,
    k: int,
    *,
    sample: np.ndarray | None = None,
    start: KMeans | None = None,
    n_init: int | None = None,
    random_state: int = 0,
) -> SegmentFit:
    """The final K-means fit of k segments on every row of X, numbered 1..k from the largest.

    With a sample (rows of X; default all) the fit starts from the sample's best centres: `start`
    (e.g. KChoice.model, a K-means fit on X[sample]) or a fit made here with n_init restarts
    (default SWEEP_INITS, 2 when sample is a part of X), then one K-means run on all rows.
    Raises DataError when a segment gets no customers (too few distinct customers for k).
    """
    n = len(X)
    rows = np.arange(n) if sample is None else np.asarray(sample)
    inits = n_init if n_init is not None else (SWEEP_INITS if len(rows) == n else 2)
    with _warnings.catch_warnings():  # duplicate points: reported below as too few segments, with a fix
        _warnings.simplefilter("ignore", ConvergenceWarning)
        if start is None:
            with _one_thread() if len(rows) <= SMALL_ROWS else contextlib.nullcontext():
                start = KMeans(n_clusters=k, n_init=inits, random_state=random_state).fit(X[rows])
        if len(rows) == n:
            model = start
        else:
            model = KMeans(n_clusters=k, init=start.cluster_centers_, n_init=1, random_state=random_state).fit(X)
    raw_labels = model.labels_
    counts = np.bincount(raw_labels, minlength=k)
    order = np.argsort(-counts, kind="stable")  # segment 1 = largest
    relabel = np.empty(k, dtype=np.int64)
    relabel[order] = np.arange(1, k + 1)
    labels = relabel[raw_labels]
    distances = _distances(X, model.cluster_centers_, raw_labels)
    if counts.min() == 0:
        distinct = len(np.unique(X, axis=0)) if n <= 200_000 else None
        raise DataError(f"Only {counts.astype(bool).sum()} of the {k} segments get customers"
                        + (f" (the features take {distinct:,} distinct combinations)" if distinct is not None else "")
                        + "; pick a smaller k or add features.")
    return SegmentFit(k=k, labels=labels, distances=distances, model=model, relabel=relabel)


def stability(
    X: np.ndarray,
    labels: np.ndarray,
    k: int,
    *,
    runs: int = STABILITY_RUNS,
    random_state: int = 0,
    rng: np.random.Generator | None = None,
) -> Stability:
    """How stable the segments are: refit K-means on `runs` random 80% resamples of X and compare.

    X: the scaled inputs (e.g. the sweep sample), labels: their segments. Each refit (2 restarts,
    seed random_state + 1 + run) assigns every row of X; its adjusted Rand index against labels
    measures the agreement (1 = the same segments, 0 = chance). Resamples are drawn from rng
    (default: a generator seeded with random_state).
    """
    X = np.asarray(X, dtype="float64")
    rng = np.random.default_rng(random_state) if rng is None else rng
    scores = []
    with _one_thread() if len(X) <= SMALL_ROWS else contextlib.nullcontext():
        for b in range(runs):
            sub = rng.choice(len(X), size=max(k, int(0.8 * len(X))), replace=False)
            km_b = KMeans(n_clusters=k, n_init=2, random_state=random_state + 1 + b).fit(X[sub])
            scores.append(float(adjusted_rand_score(labels, km_b.predict(X))))
    mean = float(np.mean(scores)) if scores else float("nan")
    spread = float(np.std(scores, ddof=1)) if len(scores) > 1 else float("nan")
    return Stability(runs=tuple(scores), mean=mean, spread=spread)


TSNE_SAMPLE = 2_000  # t-SNE costs seconds per thousand points: the map shows at most this many customers


def tsne_map(result: SegmentResult, df: pd.DataFrame, *, size: int = TSNE_SAMPLE, perplexity: float = 30.0,
             random_state: int = 0) -> SegmentMap:
    """The customers of the PCA map (`result.map`, at most `size` of them, seeded) laid out by t-SNE on
    the segmentation's scaled inputs: neighbours stay neighbours, so well-separated segments show as
    islands (distances between islands and their sizes mean little, unlike PCA's axes).

    `df` is the table the segmentation was fitted on (`result.map["row"]` are its row positions).
    points: tsne1, tsne2, segment, row; variance is NaN (t-SNE explains no variance).
    """
    from sklearn.manifold import TSNE

    if result.map is None or result._pipeline is None:
        raise DataError("This segmentation has no map to lay out; build the segments again.")
    rows = result.map["row"].to_numpy()
    if size < len(rows):
        rows = np.sort(np.random.default_rng(random_state).choice(rows, size=size, replace=False))
    if len(rows) < 5:
        raise DataError("t-SNE needs at least 5 customers on the map.")
    X = result._transform(df.iloc[rows])
    with _one_thread():  # a page-side computation on a shared server: one core
        coords = TSNE(n_components=2, perplexity=min(float(perplexity), (len(rows) - 1) / 3.0), init="pca",
                      learning_rate="auto", random_state=random_state).fit_transform(X)
    points = pd.DataFrame({"tsne1": coords[:, 0], "tsne2": coords[:, 1], "segment": result.labels[rows], "row": rows})
    return SegmentMap(points=points, variance=(float("nan"), float("nan")))


def segment_map(
    X: np.ndarray,
    labels: np.ndarray,
    *,
    sample: np.ndarray | None = None,
    size: int = MAP_SAMPLE,
    random_state: int = 0,
    rng: np.random.Generator | None = None,
) -> SegmentMap:
    """Up to `size` customers on the first two principal components of X, with their segments.

    The components are learnt on X[sample] (rows of X; default all), and the mapped customers are
    drawn from the sample with rng (default: a generator seeded with random_state).
    """
    rows = np.arange(len(X)) if sample is None else np.asarray(sample)
    rng = np.random.default_rng(random_state) if rng is None else rng
    map_idx = rows[rng.choice(len(rows), size=min(len(rows), size), replace=False)]
    variance = (float("nan"), float("nan"))
    points = pd.DataFrame({"pc1": np.zeros(len(map_idx)), "pc2": np.zeros(len(map_idx))})
    if X.shape[1] >= 2:
        pca = PCA(n_components=2, random_state=random_state).fit(X[rows])
        coords = pca.transform(X[map_idx])
        points = pd.DataFrame({"pc1": coords[:, 0], "pc2": coords[:, 1]})
        variance = (float(pca.explained_variance_ratio_[0]), float(pca.explained_variance_ratio_[1]))
    elif X.shape[1] == 1:
        points["pc1"] = X[map_idx, 0]
    points["segment"] = labels[map_idx]
    points["row"] = map_idx
    return SegmentMap(points=points, variance=variance)


def kmeans_segments(
    df: pd.DataFrame,
    features: list[str] | tuple[str, ...],
    k: int | None = None,
    *,
    k_range: Iterable[int] = range(2, 11),
    random_state: int = 0,
    id_column: str | None = None,
    progress: Progress | None = None,
    **preprocessing: Any,
) -> SegmentResult:
    """Segment customers (one row each) with K-means on the chosen features.

    With k=None a k in k_range is recommended from silhouette (on a sample), Calinski-Harabasz and
    Davies-Bouldin, preferring k = 3..8 (a k outside only with a clearly higher silhouette; the
    reason says which and why, see _recommend). Preprocessing options (see Preprocessing): impute,
    log_transform, scale, clip, categorical, max_levels. `id_column` (or an obvious customer id
    column) must not repeat.

    The steps, each reported to progress(share, message) and callable alone: preparing features,
    choose_k (KChoice), fit_segments (SegmentFit), stability (Stability), profiling and naming,
    the surrogate tree, segment_map (SegmentMap). They share one generator seeded with random_state,
    so a seed gives the same segments every time.
    """
    prep = Preprocessing.from_options(preprocessing)
    numeric, categorical = check_features(df, [features] if isinstance(features, str) else list(features), prep)
    all_features = numeric + categorical
    require_one_row_per_customer(df, id_column, exclude=all_features)
    n = len(df)
    ks: list[int] = []
    if k is not None:
        if int(k) != k or k < 2:
            raise DataError(f"k must be a whole number of segments, at least 2 (got {k}).")
        k = int(k)
        if n < k:
            raise DataError(f"There are {n:,} customers, fewer than the {k} segments asked for; pick a smaller k.")
    else:
        ks = _candidate_ks(k_range, n)
    warnings: list[str] = []
    if any(looks_like_id(f) for f in numeric):
        warnings.append("Feature(s) " + ", ".join(f for f in numeric if looks_like_id(f))
                        + " look like identifiers; ids carry no behaviour and distort segments.")

    _report(progress, 0.02, "Preparing features")
    rng = np.random.default_rng(random_state)
    prepared = _prepare(df, numeric, categorical, prep, rng)
    raw, X = prepared.raw, prepared.X
    sample = np.sort(rng.choice(n, size=min(n, SWEEP_SAMPLE), replace=False)) if n > SWEEP_SAMPLE else np.arange(n)
    Xs = X[sample]
    sil_size = SILHOUETTE_SAMPLE if len(sample) == n else SILHOUETTE_SAMPLE * 2 // 3  # big tables: time for the full fit
    sil_idx = rng.choice(len(sample), size=min(len(sample), sil_size), replace=False)
    inits = SWEEP_INITS if len(sample) == n else 2

    if k is None:
        choice = choose_k(Xs, ks, random_state=random_state, n=n, silhouette_rows=sil_idx, n_init=inits,
                          progress=_within(progress, 0.05, 0.45))
    else:
        choice = KChoice.given(k)
    k = choice.k
    _report(progress, 0.55, f"Fitting {k} segments on all {n:,} customers")
    fit = fit_segments(X, k, sample=sample, start=choice.model, n_init=inits, random_state=random_state)
    labels = fit.labels
    segments = list(range(1, k + 1))

    _report(progress, 0.7, "Checking stability across resamples")
    stable = stability(Xs, labels[sample], k, runs=STABILITY_RUNS, random_state=random_state, rng=rng)

    _report(progress, 0.8, "Profiling and naming segments")
    median_rows = None if n <= FIT_SAMPLE else np.sort(rng.choice(n, size=FIT_SAMPLE, replace=False))
    profile, detail = _profiles(raw, labels, numeric, categorical, segments, median_rows)
    effects = _effects(X, labels, prepared.inputs, segments)
    names = segment_names(effects)

    _report(progress, 0.88, "Finding the features that separate segments")
    readable = _readable(raw.iloc[sample], prepared.pipeline, numeric, categorical)
    source = {c: (c.split("=", 1)[0] if "=" in c and c not in numeric else c) for c in readable.columns}
    with _one_thread():  # the tree sees the sweep sample only
        tree = surrogate_tree(readable, labels[sample], source, random_state=random_state)

    _report(progress, 0.95, "Drawing the segment map")
    seg_map = segment_map(X, labels, sample=sample, size=MAP_SAMPLE, random_state=random_state, rng=rng)
    _report(progress, 1.0, "Done")
    return SegmentResult(
        labels=labels, k=k, selection=choice.selection, profile=profile, names=names, importance=tree.importance,
        stability=stable.mean, features=all_features, categorical=categorical, reason=choice.reason,
        distances=fit.distances, profile_detail=detail, effects=effects, rules=tree.rules, fidelity=tree.fidelity,
        stability_runs=list(stable.runs), smallest_share=choice.smallest_share,
        map=seg_map.points, map_variance=seg_map.variance, logged=prepared.logged, preprocessing=prep,
        warnings=warnings, _pipeline=prepared.pipeline, _model=fit.model, _relabel=fit.relabel,
    )


def _onehot_name(name: str, categorical: list[str]) -> str:
    """OneHotEncoder names levels "<column>_<level>"; use "<column>=<level>" so names stay readable."""
    for c in sorted(categorical, key=len, reverse=True):
        if name.startswith(c + "_"):
            return f"{c}={name[len(c) + 1:]}"
    return name


def _readable(raw: pd.DataFrame, pipeline: Any, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """Imputed raw-unit numeric features plus 0/1 level columns, for rules a marketer can read."""
    out = pd.DataFrame(index=raw.index)
    for name, trans, cols in pipeline.transformers_:
        if name in ("log", "num"):
            imputed = trans.named_steps["impute"].transform(raw[cols])
            for j, c in enumerate(cols):
                out[c] = imputed[:, j]
    for c in categorical:
        levels = raw[c]
        for level in sorted(levels.unique(), key=str):
            out[f"{c}={level}"] = (levels == level).astype(float)
    return out


def segment_assignments(df: pd.DataFrame, result: SegmentResult, customer: str,
                        names: dict[int, str] | None = None, rfm: pd.DataFrame | None = None) -> pd.DataFrame:
    """The table to save: customer id, segment number and name, distance to centre, plus RFM scores if given."""
    if customer not in df.columns:
        raise DataError(f"The customer id column '{customer}' is not in the table.")
    if len(df) != len(result.labels):
        raise DataError("The table changed since the segments were built; build them again.")
    names = {**result.names, **(names or {})}
    out = pd.DataFrame({
        customer: df[customer].to_numpy(),
        "segment": result.labels.astype("int64"),
        "segment_name": pd.Series(result.labels).map({s: names.get(int(s), f"Segment {s}")
                                                       for s in np.unique(result.labels)}).to_numpy(),
        "distance_to_centre": result.distances,
    })
    if rfm is not None:
        cols = [c for c in ("r_score", "f_score", "m_score", "rfm_code", "rfm_segment") if c in rfm.columns]
        if customer in rfm.columns:
            out = out.merge(rfm[[customer] + cols], on=customer, how="left")
        elif len(rfm) == len(out):
            for c in cols:
                out[c] = rfm[c].to_numpy()
    return out
