"""kmeans_segments split into steps (issue 11): the same numbers as before, and every step alone.

The recording in tests/data/kmeans_baseline.json was made with kmeans_segments before the split
(tests/segments_baseline.py). Labels, k, names and texts must match exactly; floats to 1e-9
relative (on the machine that recorded them they are bit-identical; the tolerance only allows for
another CPU's floating-point kernels).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from segments_baseline import BASELINE, CASES, blobs_frame, one_feature_frame, run_case, snapshot

from core.errors import DataError
from core.segments import (KChoice, SegmentFit, SegmentMap, SegmentResult, Stability, choose_k, fit_segments,
                           kmeans_segments, segment_map, stability)
from core.segments.kmeans import SELECTION_COLUMNS, SILHOUETTE_SAMPLE, STABILITY_RUNS


@pytest.fixture(scope="module")
def baseline() -> dict[str, Any]:
    return json.loads(BASELINE.read_text())


def assert_same(got: Any, want: Any, where: str = "") -> None:
    """Equal, floats to 1e-9 relative (NaN equals NaN), everything else exactly."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), where
        for key in want:
            assert_same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        if want and all(isinstance(v, float) for v in want) and all(isinstance(v, float) for v in got):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=0, err_msg=where)
        else:
            for i, (g, w) in enumerate(zip(got, want)):
                assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        assert isinstance(got, (float, int)), where
        if np.isnan(want):
            assert np.isnan(got), where
        else:
            assert got == pytest.approx(want, rel=1e-9, abs=0), where
    else:
        assert got == want, where


@pytest.mark.parametrize("name", list(CASES))
def test_kmeans_segments_reproduces_the_recording(name: str, baseline: dict[str, Any]) -> None:
    got = json.loads(json.dumps(snapshot(run_case(name))))
    want = baseline[name]
    assert got["k"] == want["k"] and got["labels"] == want["labels"] and got["reason"] == want["reason"]
    assert_same(got, want, name)


def test_segment_result_keeps_its_fields() -> None:
    fields = [f.name for f in dataclasses.fields(SegmentResult)]
    assert fields == ["labels", "k", "selection", "profile", "names", "importance", "stability", "features",
                      "categorical", "reason", "distances", "profile_detail", "effects", "rules", "fidelity",
                      "stability_runs", "smallest_share", "map", "map_variance", "logged", "preprocessing",
                      "warnings", "_pipeline", "_model", "_relabel"]
    assert {"predict", "distance", "segment_table"} <= set(dir(SegmentResult))


def test_step_results_are_frozen() -> None:
    for cls in (KChoice, SegmentFit, Stability, SegmentMap):
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    result = Stability(runs=(1.0, 0.9), mean=0.95, spread=0.07)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.mean = 0.5  # type: ignore[misc]


# ----------------------------------------------------------------- each step alone
@pytest.fixture(scope="module")
def sweep() -> tuple[pd.DataFrame, SegmentResult, np.ndarray]:
    """The recorded "sweep" case (800 customers: no sampling) and its scaled inputs."""
    df = blobs_frame()
    res = run_case("sweep")
    return df, res, res._transform(df)


def test_choose_k_alone_gives_the_composed_choice(sweep: tuple[pd.DataFrame, SegmentResult, np.ndarray]) -> None:
    _, res, X = sweep
    # without sampling, the silhouette rows are the first draw of the seeded generator, as in kmeans_segments
    seen: list[tuple[float, str]] = []
    choice = choose_k(X, random_state=5, progress=lambda share, msg: seen.append((share, msg)))
    assert isinstance(choice, KChoice)
    assert choice.k == res.k == 4 and choice.reason == res.reason
    pd.testing.assert_frame_equal(choice.selection, res.selection)
    pd.testing.assert_series_equal(choice.smallest_share, res.smallest_share)
    assert list(choice.selection.columns) == SELECTION_COLUMNS and choice.selection["k"].tolist() == list(range(2, 11))
    assert choice.model is not None and choice.model.n_clusters == 4
    assert [m for _, m in seen][:2] == ["Trying k = 2 (1 of 9)", "Trying k = 3 (2 of 9)"]
    assert all(0 <= s < 1 for s, _ in seen) and [s for s, _ in seen] == sorted(s for s, _ in seen)


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")  # the all-equal customers, on purpose
def test_choose_k_options_and_errors() -> None:
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (150, 2)), rng.normal(8, 1, (150, 2)), rng.normal((0, 8), 1, (150, 2))]
    choice = choose_k(X, [3, 2, 4, 3, 1], silhouette_rows=np.arange(0, 450, 3), n_init=1, n=4500)
    assert choice.selection["k"].tolist() == [2, 3, 4] and choice.k == 3
    assert choice.selection["inertia"].iloc[1] == pytest.approx(choice.model.inertia_ * 10)  # scaled to n
    with pytest.raises(DataError, match="k_range"):
        choose_k(X, [1])
    with pytest.raises(DataError, match="only 2 customers"):
        choose_k(X[:2])
    with pytest.raises(DataError, match="too alike"):
        choose_k(np.zeros((50, 2)), [2, 3])
    given = KChoice.given(5)
    assert given.k == 5 and given.model is None and given.selection.empty
    assert list(given.selection.columns) == SELECTION_COLUMNS and given.reason == "k = 5 was chosen by you."


def test_fit_segments_alone_gives_the_composed_fit() -> None:
    df = blobs_frame()
    res = run_case("given_k")  # k = 3, random_state = 2, no sampling
    X = res._transform(df)
    fit = fit_segments(X, 3, random_state=2)
    assert isinstance(fit, SegmentFit) and fit.k == 3
    np.testing.assert_array_equal(fit.labels, res.labels)
    np.testing.assert_array_equal(fit.distances, res.distances)
    sizes = np.bincount(fit.labels)[1:]
    assert (np.diff(sizes) <= 0).all()  # segment 1 is the largest
    np.testing.assert_array_equal(fit.relabel[fit.model.predict(X)], fit.labels)


def test_fit_segments_from_a_sample_and_too_few_distinct() -> None:
    rng = np.random.default_rng(1)
    X = np.r_[rng.normal(0, 1, (300, 2)), rng.normal(10, 1, (300, 2))]
    sample = np.sort(rng.choice(600, size=200, replace=False))
    fit = fit_segments(X, 2, sample=sample, random_state=0)
    assert fit.labels.shape == (600,) and set(fit.labels) == {1, 2}
    assert (fit.labels[:300] == fit.labels[0]).all() and (fit.labels[300:] != fit.labels[0]).all()
    with pytest.raises(DataError, match="segments get customers"):
        fit_segments(np.repeat(np.eye(3), 20, axis=0), 5)


def test_stability_alone_and_in_the_composition(sweep: tuple[pd.DataFrame, SegmentResult, np.ndarray]) -> None:
    _, res, X = sweep
    alone = stability(X, res.labels, res.k, random_state=5)
    assert isinstance(alone, Stability) and len(alone.runs) == STABILITY_RUNS
    assert alone.mean == pytest.approx(np.mean(alone.runs)) and alone.mean >= 0.9
    assert alone.spread == pytest.approx(np.std(alone.runs, ddof=1))
    assert all(-1 <= r <= 1 for r in alone.runs)
    # kmeans_segments draws the silhouette rows first, then the resamples, from the same generator
    rng = np.random.default_rng(5)
    rng.choice(len(X), size=min(len(X), SILHOUETTE_SAMPLE), replace=False)
    composed = stability(X, res.labels, res.k, random_state=5, rng=rng)
    assert list(composed.runs) == res.stability_runs and composed.mean == res.stability
    single = stability(X, res.labels, res.k, runs=1)
    assert len(single.runs) == 1 and np.isnan(single.spread)


def test_segment_map_alone_and_in_the_composition(sweep: tuple[pd.DataFrame, SegmentResult, np.ndarray]) -> None:
    _, res, X = sweep
    alone = segment_map(X, res.labels, size=100)
    assert isinstance(alone, SegmentMap)
    assert list(alone.points.columns) == ["pc1", "pc2", "segment", "row"] and len(alone.points) == 100
    np.testing.assert_array_equal(alone.points["segment"], res.labels[alone.points["row"]])
    assert 0 < alone.variance[0] and 0 < alone.variance[1] <= alone.variance[0] and sum(alone.variance) <= 1 + 1e-12
    rng = np.random.default_rng(5)  # silhouette rows, then the stability resamples, then the map
    rng.choice(len(X), size=min(len(X), SILHOUETTE_SAMPLE), replace=False)
    stability(X, res.labels, res.k, random_state=5, rng=rng)
    composed = segment_map(X, res.labels, random_state=5, rng=rng)
    pd.testing.assert_frame_equal(composed.points, res.map)
    assert composed.variance == res.map_variance


def test_segment_map_with_one_feature() -> None:
    X = one_feature_frame()[["spend"]].to_numpy()
    labels = np.where(X[:, 0] > 110, 1, 2)
    out = segment_map(X, labels, size=50, random_state=3)
    assert len(out.points) == 50 and (out.points["pc2"] == 0).all()
    np.testing.assert_array_equal(out.points["pc1"], X[out.points["row"], 0])
    assert np.isnan(out.variance).all()


def test_kmeans_segments_reports_each_step() -> None:
    seen: list[tuple[float, str]] = []
    kmeans_segments(blobs_frame(), ["recency", "orders", "sessions"], k_range=[3, 4], random_state=0,
                    progress=lambda share, msg: seen.append((share, msg)))
    messages = [m for _, m in seen]
    assert messages == ["Preparing features", "Trying k = 3 (1 of 2)", "Trying k = 4 (2 of 2)",
                        "Fitting 4 segments on all 800 customers", "Checking stability across resamples",
                        "Profiling and naming segments", "Finding the features that separate segments",
                        "Drawing the segment map", "Done"]
    shares = [s for s, _ in seen]
    assert shares == sorted(shares) and shares[0] > 0 and shares[-1] == 1.0


def test_blockwise_distances_and_bincount_means_equal_the_plain_computations():
    from core.segments.kmeans import _distances, _segment_means

    rng = np.random.default_rng(3)
    X, centres, labels = rng.normal(size=(1_003, 4)), rng.normal(size=(3, 4)), rng.integers(0, 3, 1_003)
    np.testing.assert_allclose(_distances(X, centres, labels, block=100),
                               np.linalg.norm(X - centres[labels], axis=1), rtol=1e-12)
    num = pd.DataFrame({"spend": rng.gamma(2.0, 50.0, 1_003), "orders": pd.array(rng.integers(0, 9, 1_003), dtype="Int64")})
    num.loc[::7, "spend"] = np.nan
    num.loc[::5, "orders"] = pd.NA
    segments = [1, 2, 3, 4]  # segment 4 has nobody: NaN, as pandas gives
    seg = labels + 1
    expected = num.astype("float64").groupby(pd.Series(seg, index=num.index)).mean().reindex(segments)
    got = _segment_means(num, seg, segments)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12, equal_nan=True)
    assert got.loc[4].isna().all()


def test_mllib_clusters_are_paired_with_the_sample_segments_by_least_total_distance():
    from core.segments.mllib import match_clusters

    rng = np.random.default_rng(0)
    sample = rng.normal(size=(5, 3)) * 10
    order = np.array([3, 0, 4, 1, 2])
    moved = sample[order] + rng.normal(scale=0.01, size=(5, 3))  # MLlib's clusters: the same centres, shuffled
    np.testing.assert_array_equal(match_clusters(sample, moved), order)


def test_the_tsne_map_lays_out_the_pca_maps_customers_seeded():
    from sklearn.datasets import make_blobs

    from core.segments import kmeans_segments
    from core.segments.kmeans import tsne_map

    X, _ = make_blobs(1_200, 4, centers=3, cluster_std=0.6, random_state=0)
    df = pd.DataFrame(X + 10, columns=["a", "b", "c", "d"])
    res = kmeans_segments(df, ["a", "b", "c", "d"], 3)
    first = tsne_map(res, df, size=300)
    again = tsne_map(res, df, size=300)
    assert len(first.points) == 300 and set(first.points["row"]) <= set(res.map["row"])
    np.testing.assert_allclose(first.points[["tsne1", "tsne2"]], again.points[["tsne1", "tsne2"]])  # seeded
    np.testing.assert_array_equal(first.points["segment"], res.labels[first.points["row"]])
    # well-separated segments stay apart: each point's nearest neighbour is in its own segment
    from sklearn.neighbors import NearestNeighbors

    xy = first.points[["tsne1", "tsne2"]].to_numpy()
    nearest = NearestNeighbors(n_neighbors=2).fit(xy).kneighbors(xy, return_distance=False)[:, 1]
    assert (first.points["segment"].to_numpy()[nearest] == first.points["segment"].to_numpy()).mean() > 0.98
