"""Workspace API: tables, reads, Ibis, read-only SQL, export, profile, atomic loads, threads."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.demo import SAMPLE_DIR
from core.errors import DataError
from core.data.workspace import Workspace, close_all

CSV = "customer_id,region,spend,signup\n1,North,10.5,2024-01-02\n2,South,,2024-02-03\n3,North,7.25,2024-03-04\n"


def test_default_path_uses_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MW_WORKSPACE", str(tmp_path / "x" / "w.duckdb"))
    ws = Workspace()
    assert ws.path == (tmp_path / "x" / "w.duckdb").resolve()
    assert ws.path.exists()
    close_all()


def test_default_path_without_env(monkeypatch, tmp_path):
    monkeypatch.delenv("MW_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    ws = Workspace()
    assert ws.path == (tmp_path / "workspace" / "workbench.duckdb").resolve()
    close_all()


def test_ingest_report_fields(ws, write):
    r = ws.ingest_csv(write("c.csv", CSV), "customers")
    assert r.table == "customers" and r.rows == 3 and r.rejected_rows == 0
    assert r.columns == {"customer_id": "BIGINT", "region": "VARCHAR", "spend": "DOUBLE", "signup": "DATE"}
    assert list(r.rejects.columns) == ["line", "column", "error", "raw_line"] and r.rejects.empty
    for key in ("delimiter", "header", "encoding", "dateformat", "columns"):
        assert key in r.detected
    assert r.detected["header"] is True and r.detected["delimiter"] == ","
    assert isinstance(r.warnings, list)


def test_ingest_from_binary_file_object(ws):
    r = ws.ingest_csv(io.BytesIO(CSV.encode()), "c")
    assert r.rows == 3
    assert not list(ws.tmp_dir.glob("upload-*"))  # the spilled copy is removed


def test_ingest_rejects_bytes_object(ws):
    with pytest.raises(DataError, match="path or a binary file"):
        ws.ingest_csv(CSV.encode(), "c")


def test_missing_file(ws, tmp_path):
    with pytest.raises(DataError, match="not found"):
        ws.ingest_csv(tmp_path / "nope.csv", "c")


def test_tables_read_and_limit(ws, write):
    ws.ingest_csv(write("c.csv", CSV), "customers")
    ws.ingest_csv(write("o.csv", "id\n1\n"), "Orders")
    assert ws.tables() == ["customers", "orders"]
    assert len(ws.read("customers")) == 3
    assert len(ws.read("customers", limit=2)) == 2
    assert ws.read("CUSTOMERS")["customer_id"].tolist() == [1, 2, 3]
    with pytest.raises(DataError, match="no table 'nope'"):
        ws.read("nope")


def test_ibis_table_runs_in_database(ws, write):
    ws.ingest_csv(write("c.csv", CSV), "customers")
    t = ws.table("customers")
    out = t.group_by("region").aggregate(n=t.count(), spend=t.spend.sum()).order_by("region").execute()
    assert out["region"].tolist() == ["North", "South"]
    assert out["n"].tolist() == [2, 1]
    assert out["spend"].iloc[0] == pytest.approx(17.75)


def test_replace_mode_and_versions(ws, write):
    ws.ingest_csv(write("c.csv", CSV), "customers")
    v1 = ws.version("customers")
    r = ws.ingest_csv(write("c2.csv", "customer_id\n9\n"), "customers", mode="replace")
    assert r.mode == "replace" and ws.read("customers")["customer_id"].tolist() == [9]
    v2 = ws.version("customers")
    assert v2 > v1
    ws.drop("customers")
    ws.ingest_csv(write("c3.csv", "customer_id\n1\n"), "customers")
    assert ws.version("customers") > v2  # never reused after a drop


def test_append_mode(ws, write):
    ws.ingest_csv(write("c.csv", CSV), "customers")
    r = ws.ingest_csv(write("c2.csv", "signup,spend,region,customer_id\n2024-05-06,1,East,4\n"), "customers",
                      mode="append")
    assert r.rows == 1 and r.total_rows == 4
    assert ws.read("customers")["region"].tolist() == ["North", "South", "North", "East"]


def test_append_to_missing_table_creates_it(ws, write):
    r = ws.ingest_csv(write("c.csv", CSV), "fresh", mode="append")
    assert r.total_rows == 3 and ws.tables() == ["fresh"]


def test_unknown_mode(ws, write):
    with pytest.raises(DataError, match="Unknown mode"):
        ws.ingest_csv(write("c.csv", CSV), "c", mode="upsert")


def test_drop(ws, write):
    ws.ingest_csv(write("c.csv", CSV), "customers")
    ws.drop("customers")
    assert ws.tables() == []
    with pytest.raises(DataError):
        ws.drop("customers")


def test_sql_read_only(ws, write):
    ws.ingest_csv(write("c.csv", CSV), "customers")
    df = ws.sql("SELECT region, count(*) AS n FROM customers GROUP BY region ORDER BY region")
    assert df["n"].tolist() == [2, 1]
    assert len(ws.sql("SELECT * FROM range(100)", limit=10)) == 10
    blocked = [
        "DELETE FROM customers",
        "DROP TABLE customers",
        "INSERT INTO customers (customer_id) VALUES (4)",
        "UPDATE customers SET spend = 0",
        "CREATE TABLE x AS SELECT 1",
        "ATTACH '/tmp/other.duckdb' AS o",
        "COPY customers TO '/tmp/out.csv'",
        "SET threads = 1",
        "PRAGMA version",
        "SELECT 1; DROP TABLE customers",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM 'data.parquet'",
        "SELECT read_text('/etc/hostname')",
        "SELECT * FROM glob('/*')",
        "WITH x AS (SELECT * FROM read_parquet('a.parquet')) SELECT * FROM x",
        "SELECT * FROM customers WHERE customer_id IN (SELECT * FROM read_json('x.json'))",
        "",
    ]
    for q in blocked:
        with pytest.raises(DataError):
            ws.sql(q)
    assert len(ws.read("customers")) == 3


def test_sql_error_message(ws):
    with pytest.raises(DataError, match="failed|syntax"):
        ws.sql("SELECT nope FROM range(3)")
    with pytest.raises(DataError, match="syntax"):
        ws.sql("SELEC 1")


def test_export_round_trips(ws, write):
    ws.ingest_csv(write("c.csv", CSV), "customers")
    original = ws.read("customers")
    csv_back = pd.read_csv(io.BytesIO(ws.export("customers", "csv")), parse_dates=["signup"])
    assert csv_back["spend"].tolist()[0] == 10.5 and len(csv_back) == 3
    pq_back = pd.read_parquet(io.BytesIO(ws.export("customers", "parquet")))
    assert pq_back["customer_id"].tolist() == original["customer_id"].tolist()
    assert pq_back["spend"].isna().tolist() == original["spend"].isna().tolist()
    xl_back = pd.read_excel(io.BytesIO(ws.export("customers", "xlsx")))
    assert xl_back["region"].tolist() == ["North", "South", "North"]
    with pytest.raises(DataError, match="Unknown export format"):
        ws.export("customers", "pdf")
    assert not list(ws.tmp_dir.glob("export-*"))


def test_profile_matches_pandas(ws):
    ws.ingest_csv(SAMPLE_DIR / "customers.csv", "customers")
    prof = ws.profile("customers").set_index("column")
    df = pd.read_csv(SAMPLE_DIR / "customers.csv", keep_default_na=False, na_values=[""])
    for col in ["customer_id", "recency_days", "total_spend", "email_open_rate", "region", "channel"]:
        s = df[col]
        assert prof.loc[col, "non_null"] == s.notna().sum(), col
        assert prof.loc[col, "distinct"] == s.nunique(), col
        assert prof.loc[col, "missing_pct"] == pytest.approx(100 * s.isna().mean(), abs=0.01), col
    for col in ["recency_days", "total_spend", "email_open_rate"]:
        s = df[col]
        assert prof.loc[col, "mean"] == pytest.approx(s.mean(), rel=1e-9), col
        assert float(prof.loc[col, "min"]) == pytest.approx(s.min()), col
        assert float(prof.loc[col, "max"]) == pytest.approx(s.max()), col
    top = df["channel"].value_counts()
    expected = ", ".join(f"{v} ({n:,})" for v, n in top.head(3).items())
    assert prof.loc["channel", "top_values"] == expected
    assert prof.loc["region", "min"] == df["region"].dropna().min()
    assert set(prof.columns) >= {"type", "non_null", "missing_pct", "distinct", "min", "max", "mean", "top_values"}


def test_profile_wide_table(ws, tmp_path):
    n = 600
    p = tmp_path / "wide.csv"
    p.write_text(",".join(f"c{i}" for i in range(n)) + "\n" + "\n".join(",".join(str(r + i) for i in range(n)) for r in range(4)) + "\n")
    ws.ingest_csv(p, "wide")
    prof = ws.profile("wide")
    assert len(prof) == n and prof["distinct"].tolist() == [4] * n


def test_failed_load_leaves_existing_table(ws, write, monkeypatch):
    ws.ingest_csv(write("c.csv", CSV), "customers")
    before = ws.read("customers")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("simulated interruption while committing")

    monkeypatch.setattr(ws, "_bump", boom)  # fails inside the swap transaction
    with pytest.raises(KeyboardInterrupt):
        ws.ingest_csv(write("c2.csv", "customer_id\n9\n"), "customers", mode="replace")
    monkeypatch.undo()
    pd.testing.assert_frame_equal(ws.read("customers"), before)
    with ws._cursor() as cur:
        left = cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '__mw_staging%'").fetchall()
    assert left[0][0] == 0


def test_interrupted_read_leaves_existing_table(ws, write, monkeypatch):
    ws.ingest_csv(write("c.csv", CSV), "customers")
    before = ws.read("customers")

    def broken_progress(fraction, message):
        if fraction > 0.5:
            raise RuntimeError("browser went away")

    with pytest.raises(RuntimeError):
        ws.ingest_csv(write("c2.csv", "customer_id\n9\n"), "customers", mode="replace", progress=broken_progress)
    pd.testing.assert_frame_equal(ws.read("customers"), before)
    assert ws.tables() == ["customers"]


def test_progress_is_reported(ws, write):
    seen: list[tuple[float, str]] = []
    ws.ingest_csv(write("c.csv", CSV), "c", progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in fractions)
    assert fractions == sorted(fractions)


def test_tables_survive_reopen(tmp_path, write):
    path = tmp_path / "persist" / "w.duckdb"
    ws = Workspace(path)
    ws.ingest_csv(write("c.csv", CSV), "customers")
    v = ws.version("customers")
    close_all()
    again = Workspace(path)
    assert again.tables() == ["customers"]
    assert again.read("customers")["customer_id"].tolist() == [1, 2, 3]
    assert again.version("customers") == v
    close_all()


def test_stale_staging_tables_removed_on_open(tmp_path):
    path = tmp_path / "s" / "w.duckdb"
    ws = Workspace(path)
    with ws._cursor() as cur:
        cur.execute('CREATE TABLE "__mw_staging_deadbeef" AS SELECT 1 AS x').fetchall()
    close_all()
    ws = Workspace(path)
    with ws._cursor() as cur:
        n = cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '__mw_staging%'").fetchall()
    assert n[0][0] == 0 and ws.tables() == []
    close_all()


def test_workspace_locked_by_another_process(locked_workspace):
    path, _ = locked_workspace
    with pytest.raises(DataError, match="open in another program"):
        Workspace(path)


def test_concurrent_ingest_and_reads(ws, tmp_path):
    rng = np.random.default_rng(1)
    files = []
    for i in range(4):
        p = tmp_path / f"part{i}.csv"
        pd.DataFrame({"id": np.arange(20_000) + i * 20_000, "v": rng.random(20_000)}).to_csv(p, index=False)
        files.append(p)
    ws.ingest_csv(files[0], "base")
    errors: list[BaseException] = []
    counts: list[int] = []

    def loader(i: int) -> None:
        try:
            ws.ingest_csv(files[i], f"t{i}")
            ws.ingest_csv(files[i], "shared", mode="append")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def reader() -> None:
        try:
            for _ in range(20):
                counts.append(int(ws.sql("SELECT count(*) AS n FROM base")["n"].iloc[0]))
                ws.read("base", limit=5)
                ws.table("base").v.mean().execute()
                ws.tables()
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=loader, args=(i,)) for i in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert set(counts) == {20_000}
    assert sorted(ws.tables()) == ["base", "shared", "t0", "t1", "t2", "t3"]
    assert len(ws.read("shared")) == 80_000
    assert ws.read("shared")["id"].nunique() == 80_000


def test_import_folder_is_enforced(ws, monkeypatch, tmp_path):
    imports = tmp_path / "imports"
    (imports / "sub").mkdir(parents=True)
    (imports / "sub" / "big.csv").write_text(CSV)
    (tmp_path / "secret.csv").write_text("x\n1\n")
    monkeypatch.setenv("MW_IMPORT_DIR", str(imports))
    assert ws.import_files() == ["sub/big.csv"]
    path = ws.resolve_import("sub/big.csv")
    assert ws.ingest_csv(path, "big").rows == 3
    for bad in ["../secret.csv", "/etc/passwd", "sub/../../secret.csv", "missing.csv"]:
        with pytest.raises(DataError):
            ws.resolve_import(bad)


def test_inspect_does_not_load(ws, write):
    plan = ws.inspect_csv(write("c.csv", CSV))
    assert plan.detected()["columns"]["signup"] == "DATE"
    assert len(plan.preview) == 3
    assert ws.tables() == []


def test_save_frame(ws):
    name = ws.save_frame(pd.DataFrame({"a": [1, 2]}), "My Frame")
    assert name == "my_frame" and ws.read(name)["a"].tolist() == [1, 2]
    with pytest.raises(DataError, match="already exists"):
        ws.save_frame(pd.DataFrame({"a": [3]}), "my_frame")
    ws.save_frame(pd.DataFrame({"a": [3]}), "my_frame", mode="append")
    assert ws.read(name)["a"].tolist() == [1, 2, 3]


def test_temp_files_stay_inside_workspace(ws, write):
    ws.ingest_csv(io.BytesIO("id,name\n1,“x”\n".encode("cp1252")), "t")
    ws.export("t", "csv")
    assert ws.tmp_dir.is_relative_to(ws.folder)
    assert list(Path(ws.tmp_dir).glob("*")) == []


WIDE = [12345678901234567890123, 12345678901234567890124, 12345678901234567890125]


@pytest.mark.parametrize("stored", ["HUGEINT", "DECIMAL(38,0)", "text"])
def test_wide_integers_stay_distinct_on_every_pandas_path(ws, write, stored):
    """Three customers with 23-digit ids stay three: read, console, CSV, Excel and Parquet exports."""
    data = "customer_id,spend\n" + "".join(f"{c},{i}\n" for i, c in enumerate(WIDE))
    ws.ingest_csv(write("wide.csv", data), "t", types=None if stored == "text" else {"customer_id": stored})
    expect = [str(c) for c in WIDE] if stored == "text" else WIDE
    assert ws.read("t")["customer_id"].tolist() == expect
    assert ws.read("t", limit=2)["customer_id"].tolist() == expect[:2]
    res = ws.query("SELECT customer_id, spend FROM t ORDER BY spend DESC; -- newest first", limit=10)
    assert res.frame["customer_id"].tolist() == expect[::-1] and res.frame["spend"].tolist() == [2, 1, 0]
    assert ws.sql("SELECT customer_id FROM t", limit=1)["customer_id"].tolist() == expect[:1]
    csv_text = ws.export("t", "csv").decode()
    assert all(str(c) in csv_text for c in WIDE)
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(ws.export("t", "xlsx"))).active
    cells = [sheet.cell(row=r, column=1).value for r in range(2, 5)]
    assert [str(v) for v in cells] == [str(c) for c in WIDE] and len(set(cells)) == 3
    pq = pd.read_parquet(io.BytesIO(ws.export("t", "parquet")))
    assert [str(v) for v in pq["customer_id"]] == [str(c) for c in WIDE]


def test_wide_sql_results_are_exact(ws):
    from core.data.export import frame_to_bytes

    df = ws.sql("SELECT 12345678901234567890123::HUGEINT + x AS id, sum(x) OVER () AS total, "
                "x::DECIMAL(38,2) / 4 AS share, NULL::HUGEINT AS nothing FROM range(3) r(x) ORDER BY x")
    assert df["id"].tolist() == WIDE
    assert df["total"].dtype == "int64" and df["total"].tolist() == [3, 3, 3]  # a HUGEINT sum that fits
    assert df["share"].dtype == "float64" and df["share"].tolist() == [0.0, 0.25, 0.5]
    assert df["nothing"].isna().all()
    for fmt in ("csv", "xlsx", "parquet"):
        frame_to_bytes(df, fmt)  # no overflow on any format
    assert str(WIDE[2]) in frame_to_bytes(df, "csv").decode()
    u = ws.sql("SELECT 340282366920938463463374607431768211455::UHUGEINT AS u")
    assert u["u"].tolist() == [2**128 - 1]
