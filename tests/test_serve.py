"""serve.py: the launcher `make run` uses imports every listed module (a renamed module would
silently bring back the slow first render), and never a page (their caches need the server)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_preloaded_module_imports_and_no_page_is_among_them():
    code = ("import sys, serve; failed = serve.preload(); print(failed); "
            "print(sorted(m for m in sys.modules if m.startswith('pages')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    failed, pages = out.stdout.strip().splitlines()[-2:]
    assert failed == "[]", out.stderr
    assert pages == "[]"


def test_make_run_starts_the_launcher():
    assert "serve.py" in (ROOT / "Makefile").read_text()


def test_the_launcher_starts_no_spark_for_duckdb_and_survives_a_wrong_engine():
    code = ("import os, sys, serve; serve.start_engine(); print('pyspark' in sys.modules); "
            "os.environ['MW_ENGINE'] = 'oracle'; serve.start_engine(); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in __import__("os").environ.items() if k != "MW_ENGINE"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "ok"] and "MW_ENGINE is 'oracle'" in out.stderr
