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
