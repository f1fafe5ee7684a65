"""Security: the SQL sandbox (both layers), time limits, upload caps, export neutralising, roles,
audit log and failure messages, all through the public Workspace API.
"""

from __future__ import annotations

import errno
import gzip
import io
import threading
import time
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest

import core.data.workspace as workspace_module
from core.data.export import frame_to_bytes
from core.data.workspace import Workspace, close_all
from core.errors import DataError, redact

SECRET = "TOPSECRET-7f3a"  # content of files outside the workspace; must never come back
PASSWD_MARK = "root:"  # /etc/passwd starts with the root entry
SLOW_QUERY = "SELECT count(*) FROM range(1000000000000) a WHERE a.range % 7 = 3"


# ---------------------------------------------------------------- helpers

@pytest.fixture
def loaded(ws: Workspace) -> Workspace:
    """The `ws` workspace with a small `customers` table."""
    ws.save_frame(pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"]}), "customers")
    return ws


@pytest.fixture
def outside(tmp_path: Path) -> dict[str, Path]:
    """Files outside the workspace folder (CSV, JSON, Parquet, text) holding SECRET."""
    folder = tmp_path / "outside"
    folder.mkdir()
    csv = folder / "secret.csv"
    csv.write_text(f"secret\n{SECRET}\n")
    js = folder / "secret.json"
    js.write_text(f'[{{"secret": "{SECRET}"}}]')
    pq = folder / "secret.parquet"
    pd.DataFrame({"secret": [SECRET]}).to_parquet(pq)
    return {"csv": csv, "json": js, "parquet": pq, "folder": folder}


def _count(ws: Workspace) -> int:
    return int(ws.sql("SELECT count(*) AS n FROM customers")["n"].iloc[0])


def _assert_refused(ws: Workspace, query: str) -> DataError:
    with pytest.raises(DataError) as info:
        ws.sql(query)
    message = str(info.value)
    assert SECRET not in message and PASSWD_MARK not in message
    return info.value


def _home_duckdb_state() -> tuple[bool, dict[str, float]]:
    """Whether ~/.duckdb (real HOME) exists, and the mtime of everything in it."""
    root = Path.home() / ".duckdb"
    if not root.exists():
        return False, {}
    state = {str(root): root.stat().st_mtime}
    for p in root.rglob("*"):
        state[str(p)] = p.stat().st_mtime
    return True, state


def _tmp_files(ws: Workspace) -> list[Path]:
    return sorted(ws.tmp_dir.glob("*")) if ws.tmp_dir.exists() else []




# ---------------------------------------------------------------- 1. escape attempts (console)

def _escape_attempts() -> list:
    """(id, query template); {csv} {json} {parquet} {outside} {ws} {folder} {tmp} are filled in."""
    plain = [
        ("json_execute_serialized_sql",
         "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT * FROM read_text(''/etc/passwd'')'))"),
        ("json_execute_outside_csv",
         "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT * FROM read_csv(''{csv}'')'))"),
        ("read_text_passwd", "SELECT * FROM read_text('/etc/passwd')"),
        ("from_passwd_string", "SELECT * FROM '/etc/passwd'"),
        ("from_outside_csv", "FROM '{csv}'"),
        ("read_blob_outside", "SELECT * FROM read_blob('{csv}')"),
        ("read_text_outside", "SELECT * FROM read_text('{csv}')"),
        ("read_csv_outside", "SELECT * FROM read_csv('{csv}')"),
        ("read_csv_auto_outside", "SELECT * FROM read_csv_auto('{csv}')"),
        ("read_parquet_outside", "SELECT * FROM read_parquet('{parquet}')"),
        ("read_json_outside", "SELECT * FROM read_json('{json}')"),
        ("read_blob_workspace_db", "SELECT * FROM read_blob('{ws}')"),
        ("read_text_workspace_db", "SELECT * FROM read_text('{ws}')"),
        ("read_csv_workspace_db", "SELECT * FROM read_csv('{ws}')"),
        ("read_csv_auto_workspace_db", "SELECT * FROM read_csv_auto('{ws}')"),
        ("read_parquet_workspace_db", "SELECT * FROM read_parquet('{ws}')"),
        ("read_json_workspace_db", "SELECT * FROM read_json('{ws}')"),
        ("from_workspace_db_string", "SELECT * FROM '{ws}'"),
        ("glob_workspace_folder", "SELECT * FROM glob('{folder}/*')"),
        ("glob_etc", "SELECT * FROM glob('/etc/*')"),
        ("glob_tmp_dir", "SELECT * FROM glob('{tmp}/*')"),
        ("sql_auto_complete", "SELECT * FROM sql_auto_complete('SEL')"),
        ("copy_table_out", "COPY customers TO '/tmp/x.csv'"),
        ("copy_into_tmp_dir", "COPY (SELECT 1) TO '{tmp}/x.csv'"),
        ("attach_file", "ATTACH '{outside}/other.duckdb' AS o"),
        ("attach_memory", "ATTACH ':memory:' AS m"),
        ("detach", "DETACH workbench"),
        ("export_database", "EXPORT DATABASE '{tmp}/dump'"),
        ("import_database", "IMPORT DATABASE '{tmp}/dump'"),
        ("install_httpfs", "INSTALL httpfs"),
        ("load_httpfs", "LOAD httpfs"),
        ("pragma_version", "PRAGMA version"),
        ("pragma_threads", "PRAGMA threads=1"),
        ("set_threads", "SET threads=1"),
        ("set_external_access", "SET enable_external_access=true"),
        ("reset_lock_configuration", "RESET lock_configuration"),
        ("call_pragma_version", "CALL pragma_version()"),
        ("getenv", "SELECT getenv('HOME')"),
        ("duckdb_settings", "SELECT * FROM duckdb_settings()"),
        ("current_setting", "SELECT current_setting('temp_directory')"),
        ("duckdb_databases", "SELECT * FROM duckdb_databases()"),
        ("pragma_database_list_fn", "SELECT * FROM pragma_database_list()"),
        ("duckdb_extensions", "SELECT * FROM duckdb_extensions()"),
        ("duckdb_secrets", "SELECT * FROM duckdb_secrets()"),
        ("duckdb_temporary_files", "SELECT * FROM duckdb_temporary_files()"),
        ("query_fn", "SELECT * FROM query('SELECT 1')"),
        ("query_table_fn", "SELECT * FROM query_table('customers')"),
        ("audit_table", "SELECT * FROM __mw_audit"),
        ("meta_table", "SELECT * FROM __mw_meta_tables"),
        ("audit_table_quoted_upper", 'SELECT * FROM "__MW_AUDIT"'),
        ("audit_table_qualified", "SELECT * FROM workbench.main.__mw_audit"),
        ("audit_table_in_subquery", "SELECT * FROM customers WHERE id IN (SELECT rows FROM __mw_audit)"),
        ("audit_table_describe", "SELECT * FROM (DESCRIBE __mw_audit)"),
        ("audit_table_summarize", "SUMMARIZE __mw_audit"),
        ("audit_table_pivot", "SELECT * FROM (PIVOT __mw_audit ON action USING count(*))"),
        ("cte_read_text", "WITH x AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM x"),
        ("subquery_read_csv", "SELECT * FROM customers WHERE name IN (SELECT * FROM read_csv('{csv}'))"),
        ("nested_cte_glob", "WITH a AS (WITH b AS (SELECT * FROM glob('/etc/*')) SELECT * FROM b) SELECT * FROM a"),
        ("upper_read_text", "SELECT * FROM READ_TEXT('/etc/passwd')"),
        ("mixed_read_csv", "SELECT * FROM ReAd_CsV('{csv}')"),
        ("quoted_fn_name", "SELECT * FROM \"read_text\"('/etc/passwd')"),
        ("schema_qualified_fn", "SELECT * FROM system.main.read_text('/etc/passwd')"),
        ("upper_getenv", "SELECT GetEnv('HOME')"),
        ("two_statements", "SELECT 1; SELECT 2"),
        ("select_then_drop", "SELECT 1; DROP TABLE customers"),
        ("create_table", "CREATE TABLE x AS SELECT 1 AS a"),
        ("insert", "INSERT INTO customers VALUES (4, 'd')"),
        ("update", "UPDATE customers SET name = 'z'"),
        ("delete", "DELETE FROM customers"),
        ("drop", "DROP TABLE customers"),
        ("create_macro", "CREATE MACRO m() AS TABLE SELECT * FROM read_text('/etc/passwd')"),
        ("empty", "   "),
    ]
    gaps = [
        ("pragma_database_list_view", "SELECT * FROM pragma_database_list"),
        ("duckdb_databases_view", "SELECT database_name, path FROM duckdb_databases"),
        ("pg_settings_view", "SELECT name, setting FROM pg_catalog.pg_settings "
                             "WHERE name IN ('allowed_directories', 'temp_directory')"),
    ]
    params = [pytest.param(q, id=i) for i, q in plain]
    params += [pytest.param(q, id=i) for i, q in gaps]
    return params


ESCAPES = _escape_attempts()


def test_at_least_thirty_escape_attempts():
    assert len(ESCAPES) >= 30


@pytest.mark.parametrize("template", ESCAPES)
def test_console_refuses_escape(loaded, outside, template):
    ws = loaded
    ws.tmp_dir.mkdir(parents=True, exist_ok=True)
    query = template.format(csv=outside["csv"], json=outside["json"], parquet=outside["parquet"],
                            outside=outside["folder"], ws=ws.path, folder=ws.folder, tmp=ws.tmp_dir)
    target = Path("/tmp/x.csv")
    before = target.stat().st_mtime_ns if target.exists() else None
    _assert_refused(ws, query)
    assert _count(ws) == 3  # the workspace still answers, the table is untouched
    assert _tmp_files(ws) == []  # nothing was written into the sandbox either
    assert (target.stat().st_mtime_ns if target.exists() else None) == before


def test_console_refusals_for_analyst_hide_paths(loaded, outside):
    analyst = loaded.as_user("ann", "analyst")
    error = _assert_refused(analyst, f"SELECT * FROM read_csv('{outside['csv']}')")
    assert "read_csv" in str(error)
    error = _assert_refused(analyst, f"FROM '{outside['csv']}'")
    assert str(outside["folder"]) not in str(error)


def test_python_replacement_scan_is_off(loaded):
    df = pd.DataFrame({"leak": [SECRET]})  # noqa: F841 - a local that a replacement scan would find
    error = _assert_refused(loaded, "SELECT * FROM df")
    assert "df" in str(error)
    cur = loaded._db.cursor()
    try:
        with pytest.raises(duckdb.Error):
            cur.execute("SELECT * FROM df").fetchall()
    finally:
        cur.close()


def test_sql_auto_complete_does_not_touch_home(loaded):
    before = _home_duckdb_state()
    _assert_refused(loaded, "SELECT * FROM sql_auto_complete('SEL')")
    _assert_refused(loaded, "SELECT * FROM SQL_AUTO_COMPLETE('SELECT * FR')")
    cur = loaded._db.cursor()
    try:  # the engine does not auto-install the autocomplete extension either
        with pytest.raises(duckdb.Error):
            cur.execute("SELECT * FROM sql_auto_complete('SEL')").fetchall()
    finally:
        cur.close()
    assert _home_duckdb_state() == before


def test_all_attempts_in_one_workspace_leave_it_working(loaded, outside):
    ws = loaded
    ws.tmp_dir.mkdir(parents=True, exist_ok=True)
    for param in ESCAPES:
        if param.marks:
            continue
        query = param.values[0].format(csv=outside["csv"], json=outside["json"], parquet=outside["parquet"],
                                       outside=outside["folder"], ws=ws.path, folder=ws.folder, tmp=ws.tmp_dir)
        _assert_refused(ws, query)
    assert _count(ws) == 3
    assert ws.tables() == ["customers"]
    assert ws.read("customers")["name"].tolist() == ["a", "b", "c"]


# ---------------------------------------------------------------- 1b. the engine layer itself

@pytest.fixture
def raw(loaded):
    """A raw cursor on the sandboxed connection: the SQL guard is bypassed."""
    cur = loaded._db.cursor()
    yield cur
    cur.close()


@pytest.mark.parametrize("template", [
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT * FROM read_text(''/etc/passwd'')'))",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM glob('{folder}/*')",
    "SELECT * FROM read_csv('{csv}')",
    "SELECT * FROM read_blob('{csv}')",
    "SELECT * FROM '{csv}'",
    "SELECT * FROM read_text('{tmp}/../../outside/secret.csv')",
    "COPY customers TO '/tmp/mw-security-escape.csv'",
    "COPY customers TO '{folder}/escape.csv'",
    "ATTACH '{outside}/other.duckdb' AS o",
], ids=["read_text", "json_route", "glob_etc", "glob_ws_folder", "read_csv", "read_blob", "from_string",
        "dotdot_out_of_tmp", "copy_tmp", "copy_ws_folder", "attach_file"])
def test_engine_refuses_file_access(loaded, raw, outside, template):
    query = template.format(csv=outside["csv"], folder=loaded.folder, tmp=loaded.tmp_dir,
                            outside=outside["folder"])
    with pytest.raises(duckdb.PermissionException) as info:
        raw.execute(query).fetchall()
    assert SECRET not in str(info.value) and PASSWD_MARK not in str(info.value)
    assert not (loaded.folder / "escape.csv").exists()
    assert not (outside["folder"] / "other.duckdb").exists()


@pytest.mark.parametrize("statement", [
    "SET enable_external_access=true",
    "SET GLOBAL enable_external_access=true",
    "SET threads=1",
    "SET GLOBAL threads=1",
    "RESET lock_configuration",
    "SET lock_configuration=false",
    "SET allowed_directories=['/']",
    "SET python_enable_replacements=true",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SELECT getenv('HOME')",
])
def test_engine_refuses_configuration_changes(raw, statement):
    with pytest.raises(duckdb.Error):
        raw.execute(statement).fetchall()


def test_engine_allows_copy_inside_tmp_dir(loaded, raw):
    loaded.tmp_dir.mkdir(parents=True, exist_ok=True)
    out = loaded.tmp_dir / "x.csv"
    raw.execute(f"COPY customers TO '{out}' (HEADER true)").fetchall()
    assert out.read_text().splitlines()[0] == "id,name"
    assert raw.execute(f"SELECT count(*) FROM read_csv('{out}')").fetchall() == [(3,)]
    out.unlink()
    assert _count(loaded) == 3


def test_database_file_is_readable_by_the_engine_so_the_guard_refuses_it(loaded, raw):
    """DuckDB always lets a database read its own file: the name guard is what keeps it from the console."""
    raw.execute(f"SELECT octet_length(content) FROM read_blob('{loaded.path}')").fetchall()
    with pytest.raises(DataError):
        loaded.sql(f"SELECT octet_length(content) FROM read_blob('{loaded.path}')")


# ---------------------------------------------------------------- 2. time limit, cancel, results

def test_timeout_stops_query_and_workspace_recovers(loaded):
    started = time.perf_counter()
    with pytest.raises(DataError, match="took too long") as info:
        loaded.sql(SLOW_QUERY, timeout_s=0.5)
    assert time.perf_counter() - started < 3
    assert "MW_SQL_TIMEOUT_S" in str(info.value)
    started = time.perf_counter()
    assert loaded.sql("SELECT 42 AS x")["x"].tolist() == [42]
    assert _count(loaded) == 3
    assert time.perf_counter() - started < 1


def test_timeout_from_environment(loaded, monkeypatch):
    monkeypatch.setenv("MW_SQL_TIMEOUT_S", "0.5")
    started = time.perf_counter()
    with pytest.raises(DataError, match="took too long"):
        loaded.sql(SLOW_QUERY)
    assert time.perf_counter() - started < 3
    assert _count(loaded) == 3


def test_cancel_event_stops_query(loaded):
    cancel = threading.Event()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    started = time.perf_counter()
    try:
        with pytest.raises(DataError, match="cancelled"):
            loaded.query(SLOW_QUERY, cancel=cancel)
    finally:
        timer.cancel()
    assert time.perf_counter() - started < 3
    assert _count(loaded) == 3


def test_on_wait_exception_propagates_and_interrupts(loaded):
    class Stop(Exception):
        pass

    seen: list[float] = []

    def on_wait(elapsed: float) -> None:
        seen.append(elapsed)
        if elapsed > 0.3:
            raise Stop("session ended")

    started = time.perf_counter()
    with pytest.raises(Stop):
        loaded.query(SLOW_QUERY, on_wait=on_wait)
    assert time.perf_counter() - started < 3
    assert seen and seen == sorted(seen)
    started = time.perf_counter()
    assert _count(loaded) == 3  # the interrupted query is not still running on the workspace
    assert time.perf_counter() - started < 1


def test_query_result_fields(loaded):
    r = loaded.query("SELECT * FROM range(100)", limit=10)
    assert len(r.frame) == 10 and r.truncated is True and r.elapsed_s >= 0
    r = loaded.query("SELECT * FROM range(100)", limit=100)
    assert len(r.frame) == 100 and r.truncated is False
    r = loaded.query("SELECT * FROM range(100)", limit=1000)
    assert len(r.frame) == 100 and r.truncated is False
    r = loaded.query("SELECT * FROM range(5000)", limit=2048)  # spans several DuckDB chunks
    assert len(r.frame) == 2048 and r.truncated is True
    r = loaded.query("SELECT * FROM range(0)", limit=10)
    assert r.frame.empty and r.truncated is False and list(r.frame.columns) == ["range"]
    df = loaded.sql("SELECT * FROM range(5)")
    assert isinstance(df, pd.DataFrame) and df["range"].tolist() == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------- 3. upload caps

def _assert_nothing_left(ws: Workspace, tables: list[str]) -> None:
    assert ws.tables() == tables
    assert _tmp_files(ws) == []


def test_max_columns_cap(ws, write, monkeypatch):
    monkeypatch.setenv("MW_MAX_COLUMNS", "50")
    header = ",".join(f"c{i}" for i in range(60))
    row = ",".join("1" for _ in range(60))
    with pytest.raises(DataError, match="MW_MAX_COLUMNS"):
        ws.ingest_csv(write("wide.csv", f"{header}\n{row}\n"), "wide")
    with pytest.raises(DataError, match="MW_MAX_COLUMNS"):
        ws.ingest_csv(io.BytesIO(f"{header}\n{row}\n".encode()), "wide")
    _assert_nothing_left(ws, [])
    narrow = ",".join(f"c{i}" for i in range(40))
    assert ws.ingest_csv(write("ok.csv", f"{narrow}\n{','.join('1' for _ in range(40))}\n"), "ok").rows == 1


def test_max_columns_cap_with_quoted_header(ws, write, monkeypatch):
    monkeypatch.setenv("MW_MAX_COLUMNS", "50")
    header = ",".join(f'"c{i}"' for i in range(60))
    row = ",".join("1" for _ in range(60))
    try:
        with pytest.raises(DataError, match="MW_MAX_COLUMNS"):
            ws.ingest_csv(write("quoted.csv", f"{header}\n{row}\n"), "quoted")
    finally:
        leftover = ws.tables()
    assert leftover == []


def test_one_huge_line_is_refused_fast(ws, write):
    path = write("commas.csv", b"a," * 100_000)
    assert path.stat().st_size == 200_000
    started = time.perf_counter()
    with pytest.raises(DataError, match="MW_MAX_COLUMNS"):
        ws.ingest_csv(path, "commas")
    assert time.perf_counter() - started < 5
    _assert_nothing_left(ws, [])


def test_gzip_bomb_is_refused_fast(ws, write, monkeypatch):
    monkeypatch.setenv("MW_MAX_DECOMPRESSED_MB", "1")
    row = b"1,hello world,3.5,2024-01-01\n"
    packed = gzip.compress(b"id,name,v,d\n" + row * (5_000_000 // len(row)))
    assert len(packed) < 100_000
    started = time.perf_counter()
    with pytest.raises(DataError, match="MW_MAX_DECOMPRESSED_MB"):
        ws.ingest_csv(write("bomb.csv.gz", packed), "bomb")
    with pytest.raises(DataError, match="MW_MAX_DECOMPRESSED_MB"):
        ws.ingest_csv(io.BytesIO(packed), "bomb")
    assert time.perf_counter() - started < 5
    _assert_nothing_left(ws, [])
    small = gzip.compress(b"id,name\n1,x\n2,y\n")
    r = ws.ingest_csv(write("small.csv.gz", small), "small")
    assert r.rows == 2 and ws.read("small")["name"].tolist() == ["x", "y"]
    _assert_nothing_left(ws, ["small"])


def test_upload_named_xlsx_is_refused(ws):
    upload = io.BytesIO(b"a,b\n1,2\n")
    upload.name = "data.xlsx"
    with pytest.raises(DataError, match="not a CSV") as info:
        ws.ingest_csv(upload, "data")
    assert "data.xlsx" in str(info.value)
    _assert_nothing_left(ws, [])


def test_png_renamed_csv_is_refused(ws, write):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    with pytest.raises(DataError, match="PNG"):
        ws.ingest_csv(write("picture.csv", png), "picture")
    upload = io.BytesIO(png)
    upload.name = "picture.csv"
    with pytest.raises(DataError, match="not a CSV"):
        ws.ingest_csv(upload, "picture")
    _assert_nothing_left(ws, [])


# ---------------------------------------------------------------- 4. exports

FORMULAS = ['=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]
TEXTS = FORMULAS + ["-12.5", "safe"]
NUMBERS = [-1.5, -2.0, 3.0, 0.0, -100.0, 5.0, 6.0, -7.25, 8.0]


def _risky_frame() -> pd.DataFrame:
    return pd.DataFrame({"txt": TEXTS, "num": NUMBERS, "=bad": ["=1+1"] * len(TEXTS)})


def _check_csv(data: bytes) -> None:
    back = pd.read_csv(io.BytesIO(data), dtype={"txt": str, "'=bad": str})
    assert back.columns.tolist() == ["txt", "num", "'=bad"]
    assert back["txt"].tolist() == ["'" + t for t in FORMULAS] + ["-12.5", "safe"]
    assert pd.api.types.is_numeric_dtype(back["num"])
    assert back["num"].tolist() == NUMBERS
    assert (back["'=bad"] == "'=1+1").all()


def _check_xlsx(data: bytes) -> None:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = [[c for c in row] for row in sheet.iter_rows()]
    assert all(c.data_type != "f" for row in rows for c in row)
    assert [c.value for c in rows[0]] == ["txt", "num", "'=bad"]
    texts = [row[0].value for row in rows[1:]]
    for value, original in zip(texts, TEXTS):
        if original in FORMULAS:
            assert isinstance(value, str) and value.startswith("'"), value
        else:
            assert value == original
    numbers = [row[1].value for row in rows[1:]]
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers)
    assert numbers == NUMBERS
    assert all(row[2].value == "'=1+1" for row in rows[1:])


def test_workspace_csv_export_neutralises_formulas(ws):
    ws.save_frame(_risky_frame(), "t")
    _check_csv(ws.export("t", "csv"))
    assert _tmp_files(ws) == []


def test_workspace_xlsx_export_has_no_formulas(ws):
    ws.save_frame(_risky_frame(), "t")
    _check_xlsx(ws.export("t", "xlsx"))


def test_workspace_parquet_export_keeps_raw_values(ws):
    ws.save_frame(_risky_frame(), "t")
    back = pd.read_parquet(io.BytesIO(ws.export("t", "parquet")))
    assert back.columns.tolist() == ["txt", "num", "=bad"]
    assert back["txt"].tolist() == TEXTS and back["num"].tolist() == NUMBERS
    assert _tmp_files(ws) == []


@pytest.mark.parametrize("fmt", [
    pytest.param("csv"),
    "xlsx",
])
def test_frame_to_bytes_neutralises(fmt):
    data = frame_to_bytes(_risky_frame(), fmt)
    (_check_csv if fmt == "csv" else _check_xlsx)(data)


def test_frame_to_bytes_csv_without_carriage_returns():
    keep = [i for i, t in enumerate(TEXTS) if "\r" not in t]
    df = _risky_frame().iloc[keep].reset_index(drop=True)
    back = pd.read_csv(io.BytesIO(frame_to_bytes(df, "csv")), dtype={"txt": str, "'=bad": str})
    assert back.columns.tolist() == ["txt", "num", "'=bad"]
    expected = ["'" + t if t in FORMULAS else t for t in df["txt"]]
    assert back["txt"].tolist() == expected
    assert back["num"].tolist() == df["num"].tolist() and (back["num"] < 0).any()
    assert (back["'=bad"] == "'=1+1").all()


def test_frame_to_bytes_csv_carriage_return_cannot_start_a_formula_row():
    df = pd.DataFrame({"name": ["ok\r=cmd|' /C calc'!A0", "b"], "n": [1, 2]})
    back = pd.read_csv(io.BytesIO(frame_to_bytes(df, "csv")), dtype=str)
    assert len(back) == 2
    assert not back["name"].str.match(r"^[=+\-@]").any()


def test_workspace_csv_export_quotes_carriage_returns(ws):
    df = pd.DataFrame({"name": ["ok\r=cmd|' /C calc'!A0", "b"], "n": [1, 2]})
    ws.save_frame(df, "t")
    back = pd.read_csv(io.BytesIO(ws.export("t", "csv")), dtype=str)
    assert back["name"].tolist() == df["name"].tolist()


def test_frame_to_bytes_parquet_keeps_raw_values():
    back = pd.read_parquet(io.BytesIO(frame_to_bytes(_risky_frame(), "parquet")))
    assert back.columns.tolist() == ["txt", "num", "=bad"]
    assert back["txt"].tolist() == TEXTS and back["num"].tolist() == NUMBERS


# ---------------------------------------------------------------- 5. roles

def _role_message(error: pytest.ExceptionInfo, needed: str) -> None:
    assert f"the {needed} role" in str(error.value)


def test_viewer_reads_but_cannot_change(loaded, tmp_path):
    viewer = Workspace(loaded.path, user="v", role="viewer")
    assert viewer.tables() == ["customers"]
    assert len(viewer.read("customers")) == 3
    assert len(viewer.profile("customers")) == 2
    assert viewer.export("customers", "csv").startswith(b"id,name")
    analyst_actions = {
        "sql": lambda: viewer.sql("SELECT 1"),
        "query": lambda: viewer.query("SELECT 1"),
        "ingest_csv": lambda: viewer.ingest_csv(io.BytesIO(b"a\n1\n"), "x"),
        "inspect_csv": lambda: viewer.inspect_csv(io.BytesIO(b"a\n1\n")),
        "spill_upload": lambda: viewer.spill_upload(io.BytesIO(b"a\n1\n")),
        "save_frame": lambda: viewer.save_frame(pd.DataFrame({"a": [1]}), "x"),
    }
    admin_actions = {
        "drop": lambda: viewer.drop("customers"),
        "audit": lambda: viewer.audit(),
        "backup": lambda: viewer.backup(tmp_path / "b.mwbackup"),
    }
    for name, action in analyst_actions.items():
        with pytest.raises(DataError) as info:
            action()
        _role_message(info, "analyst")
    for name, action in admin_actions.items():
        with pytest.raises(DataError) as info:
            action()
        _role_message(info, "admin")
    assert loaded.tables() == ["customers"] and _count(loaded) == 3
    assert not (tmp_path / "b.mwbackup").exists()
    assert _tmp_files(loaded) == []


def test_analyst_loads_but_cannot_administer(loaded, tmp_path):
    analyst = loaded.as_user("ann", "analyst")
    assert analyst.sql("SELECT count(*) AS n FROM customers")["n"].tolist() == [3]
    analyst.save_frame(pd.DataFrame({"a": [1]}), "mine")
    assert analyst.ingest_csv(io.BytesIO(b"a\n1\n2\n"), "loaded").rows == 2
    for action in (lambda: analyst.drop("mine"), lambda: analyst.audit(),
                   lambda: analyst.backup(tmp_path / "b.mwbackup")):
        with pytest.raises(DataError) as info:
            action()
        _role_message(info, "admin")
    assert analyst.tables() == ["customers", "loaded", "mine"]


def test_admin_may_do_everything(loaded, tmp_path):
    admin = Workspace(loaded.path, user="boss", role="admin")
    admin.save_frame(pd.DataFrame({"a": [1]}), "tmp_table")
    admin.ingest_csv(io.BytesIO(b"a\n1\n"), "tmp_table", mode="append")
    assert admin.sql("SELECT count(*) AS n FROM tmp_table")["n"].tolist() == [2]
    admin.drop("tmp_table")
    assert not admin.audit().empty
    out = admin.backup(tmp_path / "b.mwbackup")
    assert out.exists() and out.stat().st_size > 0


def test_unknown_role_is_refused(loaded):
    for role in ("superuser", "Admin", "", "root"):
        with pytest.raises(DataError, match="Unknown role"):
            Workspace(loaded.path, user="x", role=role)
        with pytest.raises(DataError, match="Unknown role"):
            loaded.as_user("x", role)


def test_model_store_checks_roles(loaded):
    viewer_store = loaded.as_user("v", "viewer").model_store()
    with pytest.raises(DataError) as info:
        viewer_store.save(None, "m")  # the role is checked before the model is looked at
    _role_message(info, "analyst")
    with pytest.raises(DataError) as info:
        viewer_store.record_run(None, "customers")
    _role_message(info, "analyst")
    with pytest.raises(DataError) as info:
        viewer_store.delete("some-model")
    _role_message(info, "admin")
    with pytest.raises(DataError) as info:
        loaded.as_user("ann", "analyst").model_store().delete("some-model")
    _role_message(info, "admin")
    with pytest.raises(DataError, match="No saved model"):  # an admin gets past the role check
        loaded.model_store().delete("some-model")
    refused = loaded.audit()
    refused = refused[refused["action"] == "refused"]
    assert {"save_model (role viewer)", "delete_model (role analyst)"} <= set(refused["detail"])


# ---------------------------------------------------------------- 6. audit

def test_audit_log_records_actions(ws):
    alice = ws.as_user("alice", "analyst")
    alice.ingest_csv(io.BytesIO(b"id,v\n1,2\n3,4\n"), "sales")
    alice.ingest_csv(io.BytesIO(b"id,v\n5,6\n"), "sales", mode="replace")
    alice.ingest_csv(io.BytesIO(b"id,v\n7,8\n9,1\n2,2\n"), "sales", mode="append")
    alice.save_frame(pd.DataFrame({"x": [1, 2, 3, 4, 5]}), "frame")
    alice.export("sales", "csv")
    alice.sql("SELECT * FROM sales WHERE id > 1")
    with pytest.raises(DataError):
        alice.drop("sales")
    ws.as_user("root", "admin").drop("frame")

    log = ws.audit()
    assert log.columns.tolist() == ["when", "user", "role", "action", "table", "rows", "detail"]
    expected = [  # oldest first: (user, role, action, table, rows)
        ("alice", "analyst", "load", "sales", 2),
        ("alice", "analyst", "replace", "sales", 1),
        ("alice", "analyst", "append", "sales", 3),
        ("alice", "analyst", "load", "frame", 5),
        ("alice", "analyst", "export", "sales", 4),
        ("alice", "analyst", "query", None, 4),
        ("alice", "analyst", "refused", None, None),
        ("root", "admin", "drop", "frame", 5),
    ]
    got = []
    for row in log.iloc[::-1].itertuples(index=False):
        table = None if pd.isna(row.table) else row.table
        rows = None if pd.isna(row.rows) else int(row.rows)
        got.append((row.user, row.role, row.action, table, rows))
    assert got == expected
    details = log.iloc[::-1]["detail"].tolist()
    assert details[3] == "python" and details[4] == "csv"
    assert details[5] == "SELECT * FROM sales WHERE id > 1"
    assert "drop" in details[6] and "analyst" in details[6]
    assert log["when"].is_monotonic_decreasing

    last_two = ws.audit(limit=2)
    assert len(last_two) == 2
    assert last_two["action"].tolist() == ["drop", "refused"]
    pd.testing.assert_frame_equal(last_two, log.head(2))


def test_refused_console_query_is_audited(loaded):
    analyst = loaded.as_user("ann", "analyst")
    with pytest.raises(DataError):
        analyst.sql("SELECT * FROM read_text('/etc/passwd')")
    row = loaded.audit(limit=1).iloc[0]
    assert (row["user"], row["action"]) == ("ann", "query")
    assert "read_text" in row["detail"] and "refused or failed" in row["detail"]


# ---------------------------------------------------------------- 7. faults and messages

def _full_disk(src, dst, length=0):
    dst.write(b"partial bytes")
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("role", ["admin", "analyst"])
def test_full_disk_on_upload(ws, monkeypatch, role):
    ws.save_frame(pd.DataFrame({"a": [1, 2, 3]}), "keep")
    before = ws.read("keep")
    user = ws.as_user("u", role)
    monkeypatch.setattr(workspace_module.shutil, "copyfileobj", _full_disk)
    with pytest.raises(DataError, match="disk is full") as info:
        user.ingest_csv(io.BytesIO(b"a,b\n1,2\n"), "t")
    monkeypatch.undo()
    message = str(info.value)
    assert str(ws.folder) not in message and "/tmp" not in message
    assert _tmp_files(ws) == []
    assert ws.tables() == ["keep"]
    pd.testing.assert_frame_equal(ws.read("keep"), before)


def test_other_upload_errors_hide_paths_for_non_admins(ws, monkeypatch):
    def io_error(src, dst, length=0):
        raise OSError(errno.EIO, "Input/output error", str(ws.tmp_dir / "upload-x.csv"))

    monkeypatch.setattr(workspace_module.shutil, "copyfileobj", io_error)
    with pytest.raises(DataError) as admin_error:
        ws.ingest_csv(io.BytesIO(b"a,b\n1,2\n"), "t")
    assert str(ws.folder) in str(admin_error.value)  # admins see the path
    with pytest.raises(DataError) as analyst_error:
        ws.as_user("ann", "analyst").ingest_csv(io.BytesIO(b"a,b\n1,2\n"), "t")
    message = str(analyst_error.value)
    assert str(ws.folder) not in message and "/tmp" not in message
    assert _tmp_files(ws) == [] and ws.tables() == []


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_full_disk_on_export(ws, monkeypatch, fmt):
    ws.save_frame(pd.DataFrame({"a": [1, 2, 3]}), "keep")

    def no_space(self):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(workspace_module.Path, "read_bytes", no_space)
    for role in ("admin", "viewer"):
        with pytest.raises(DataError, match="disk is full") as info:
            ws.as_user("u", role).export("keep", fmt)
        assert "/tmp" not in str(info.value)
    monkeypatch.undo()
    assert not list(ws.tmp_dir.glob("export-*"))
    assert len(ws.read("keep")) == 3


def test_redact_removes_paths_and_pids():
    message = ('The workspace /tmp/abc/w.duckdb is open (IO Error: Could not set lock on file '
               '"/srv/data/w.duckdb": Conflicting lock is held in /usr/bin/python3.12 (PID 1234)).')
    out = redact(message)
    for secret in ("/tmp/abc", "/srv/data", "/usr/bin", "1234", "PID"):
        assert secret not in out
    assert "<server path>" in out
    assert redact("~/secret/x.csv") == "<server path>"
    assert "bob" not in redact(r"C:\Users\bob\w.duckdb")
    assert redact("pid=77 and process id: 88").count("another process") == 2
    assert redact("no paths here, 3 rows") == "no paths here, 3 rows"


def test_redact_paths_with_spaces():
    out = redact('Could not set lock on file "/home/alice smith/Marketing Data/workbench.duckdb"')
    assert "smith" not in out and "workbench.duckdb" not in out


def test_locked_workspace_message_for_viewer(locked_workspace):
    path, pid = locked_workspace
    with pytest.raises(DataError, match="open in another program") as viewer_error:
        Workspace(path, user="v", role="viewer")
    message = str(viewer_error.value)
    assert str(pid) not in message and "PID" not in message
    assert str(path) not in message and "/tmp" not in message
    with pytest.raises(DataError) as admin_error:  # admins get the details to fix it
        Workspace(path, user="a", role="admin")
    assert str(path) in str(admin_error.value)


# ---------------------------------------------------------------- engine settings from the environment

def test_duckdb_memory_and_threads_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MW_DUCKDB_MEMORY", "512MB")
    monkeypatch.setenv("MW_DUCKDB_THREADS", "1")
    ws = Workspace(tmp_path / "limits" / "workbench.duckdb")
    try:
        cur = ws._db.cursor()
        threads, memory = cur.execute(
            "SELECT current_setting('threads'), current_setting('memory_limit')").fetchall()[0]
        assert threads == 1
        assert memory.replace(" ", "").upper() in ("512.0MB", "488.2MIB", "512MB", "488.2MB")
        with pytest.raises(duckdb.Error):  # locked: a user cannot lift them
            cur.execute("SET memory_limit='20GB'").fetchall()
    finally:
        close_all()


def test_malformed_memory_setting_says_which_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("MW_DUCKDB_MEMORY", "lots")
    with pytest.raises(DataError, match="MW_DUCKDB_MEMORY"):
        Workspace(tmp_path / "bad" / "workbench.duckdb")
    close_all()
