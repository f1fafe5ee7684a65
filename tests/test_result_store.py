"""The process-wide store of heavy page results (pages.common.stored / remember): big enough for a
page's results, least recently used out first."""

from __future__ import annotations

from pages.common import RESULTS_KEPT, remember, result_store, stored


def test_a_pages_results_survive_its_next_run():
    result_store().clear()
    calls = []
    for run in range(2):  # a page that keeps 20 results computes each once, not on every run
        for i in range(20):
            stored(("page", i), lambda i=i: calls.append(i) or i)
    assert calls == list(range(20))
    result_store().clear()


def test_the_least_recently_used_result_goes_first():
    result_store().clear()
    for i in range(RESULTS_KEPT):
        remember(("k", i), i)
    assert stored(("k", 0), lambda: "recomputed") == 0  # used again: now the most recent
    remember(("k", "new"), "new")
    store = result_store()
    assert ("k", 0) in store and ("k", 1) not in store and len(store) == RESULTS_KEPT
    result_store().clear()
