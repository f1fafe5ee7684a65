"""Every kind of messy CSV a marketer exports: each gets a correct load or a clear DataError."""

from __future__ import annotations

import gzip
import io
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from core.errors import DataError


def test_empty_file(ws, write):
    with pytest.raises(DataError, match="empty"):
        ws.ingest_csv(write("empty.csv", b""), "t")
    assert ws.tables() == []


def test_blank_lines_only(ws, write):
    with pytest.raises(DataError, match="blank lines|no data"):
        ws.ingest_csv(write("blank.csv", "\n\n  \n"), "t")


def test_header_only(ws, write):
    with pytest.raises(DataError, match="no data rows"):
        ws.ingest_csv(write("header.csv", "id,name,spend\n"), "t")
    assert ws.tables() == []


def test_binary_file_named_csv(ws, write):
    junk = bytes(range(256)) * 40
    with pytest.raises(DataError, match="not text|binary"):
        ws.ingest_csv(write("junk.csv", junk), "t")


def test_png_named_csv(ws, write):
    with pytest.raises(DataError, match="PNG image"):
        ws.ingest_csv(write("chart.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100), "t")


def test_excel_named_csv(ws, write):
    with pytest.raises(DataError, match="Excel"):
        ws.ingest_csv(write("report.csv", b"PK\x03\x04" + b"\x00" * 200), "t")


def test_mixed_delimiter_rows_are_rejected_not_dropped(ws, write):
    lines = ["id;name;spend"] + [f"{i};n{i};{i}.5" for i in range(1, 41)]
    lines[10] = "10,n10,10.5"  # a comma line inside a semicolon file
    r = ws.ingest_csv(write("mixed.csv", "\n".join(lines) + "\n"), "t")
    assert r.detected["delimiter"] == ";"
    assert r.rows == 39 and r.rejected_rows == 1
    assert int(r.rejects["line"].iloc[0]) == 11
    assert "10,n10,10.5" in r.rejects["raw_line"].iloc[0]


def test_wrong_delimiter_override_is_reported(ws, write):
    """Forcing ',' on a semicolon file loads one text column: the user sees it in the columns."""
    r = ws.ingest_csv(write("semi.csv", "a;b\n1;2\n3;4\n"), "t", delimiter=",")
    assert list(r.columns) == ["a;b"]


def test_semicolon_and_decimal_comma(ws, write):
    data = "id;amount;share\n1;1.234,50;0,5\n2;12,75;0,25\n3;3;1\n"
    r = ws.ingest_csv(write("eu.csv", data), "t")
    assert r.detected["delimiter"] == ";"
    df = ws.read("t")
    assert r.columns["amount"] == "DOUBLE" and r.columns["share"] == "DOUBLE"
    assert df["amount"].tolist() == [1234.5, 12.75, 3.0]
    assert df["share"].tolist() == [0.5, 0.25, 1.0]


def test_decimal_separator_override(ws, write):
    r = ws.ingest_csv(write("eu.csv", "id;v\n1;2,5\n2;3,25\n"), "t", decimal_separator=",")
    assert ws.read("t")["v"].tolist() == [2.5, 3.25]
    assert r.detected["decimal_separator"] == ","


def test_quoted_newlines(ws, write):
    data = 'id,comment,score\n1,"line one\nline two",5\n2,"plain",4\n3,"a, with comma",3\n'
    r = ws.ingest_csv(write("q.csv", data), "t")
    df = ws.read("t")
    assert r.rows == 3 and r.rejected_rows == 0
    assert df["comment"].tolist() == ["line one\nline two", "plain", "a, with comma"]


def test_escaped_quotes(ws, write):
    r = ws.ingest_csv(write("q.csv", 'id,name\n1,"The ""Big"" Sale"\n2,x\n'), "t")
    assert ws.read("t")["name"].tolist() == ['The "Big" Sale', "x"]
    assert r.rejected_rows == 0


def test_unterminated_quote(ws, write):
    data = 'id,name,v\n1,"ok",2\n2,"bad,3\n3,"fine",4\n4,x,5\n'
    r = ws.ingest_csv(write("u.csv", data), "t")
    assert r.rejected_rows >= 1
    assert "unterminated quote" in r.rejects["error"].str.cat().lower()
    assert set(ws.read("t")["id"]) >= {1, 4}
    assert r.rows + r.rejected_rows <= 4


def test_ragged_rows_rejected_with_line_numbers(ws, write):
    rows = ["id,v,w"] + [f"{i},{i},{i}" for i in range(1, 30)]
    rows[5] = "5,5,5,5"  # too many
    rows[9] = "9,9"  # too few
    r = ws.ingest_csv(write("r.csv", "\n".join(rows) + "\n"), "t")
    assert r.rows == 27 and r.rejected_rows == 2
    assert r.rejects["line"].tolist() == [6, 10]
    errors = " ".join(r.rejects["error"]).upper()
    assert "TOO MANY COLUMNS" in errors and "MISSING COLUMNS" in errors
    assert r.rejected_share == pytest.approx(2 / 29)


def test_ragged_rows_padded_on_request(ws, write):
    r = ws.ingest_csv(write("r.csv", "id,v,w\n1,2,3\n4,5\n"), "t", null_padding=True)
    assert r.rows == 2 and r.rejected_rows == 0
    assert pd.isna(ws.read("t")["w"].iloc[1])


def test_latin1_text(ws, write):
    data = "id,name,city\n1,Müller,Zürich\n2,Señor,Málaga\n".encode("latin-1")
    r = ws.ingest_csv(write("l1.csv", data), "t")
    assert r.detected["encoding"] in ("latin-1", "iso8859-1", "latin_1")
    assert ws.read("t")["name"].tolist() == ["Müller", "Señor"]


def test_windows_1252_text_is_transcoded(ws, write):
    data = "id,product,price\n1,“Deluxe” mug €,9.5\n2,Tee – blue,12\n".encode("cp1252")
    r = ws.ingest_csv(write("w.csv", data), "t")
    assert ws.read("t")["product"].tolist() == ["“Deluxe” mug €", "Tee – blue"]
    assert any("UTF-8" in w for w in r.warnings)


def test_encoding_override(ws, write):
    data = "id,name\n1,Müller\n".encode("latin-1")
    ws.ingest_csv(write("l1.csv", data), "t", encoding="latin-1")
    assert ws.read("t")["name"].tolist() == ["Müller"]


def test_utf16_with_bom(ws, write):
    data = "id,name\n1,Ünal\n2,Zoë\n".encode("utf-16")
    ws.ingest_csv(write("u16.csv", data), "t")
    assert ws.read("t")["name"].tolist() == ["Ünal", "Zoë"]


def test_utf8_with_bom(ws, write):
    r = ws.ingest_csv(write("bom.csv", "\ufeffid,name\n1,a\n2,b\n"), "t")
    assert list(r.columns) == ["id", "name"]
    assert r.columns["id"] == "BIGINT"


def test_duplicate_and_blank_column_names(ws, write):
    r = ws.ingest_csv(write("d.csv", "id,spend,spend,,Spend\n1,2,3,4,5\n"), "t")
    assert list(r.columns) == ["id", "spend", "spend_2", "column_4", "Spend_2_2"] or \
        list(r.columns) == ["id", "spend", "spend_2", "column_4", "Spend_3"]
    assert len(set(c.lower() for c in r.columns)) == 5
    assert any("made unique" in w for w in r.warnings)
    assert ws.read("t").iloc[0].tolist() == [1, 2, 3, 4, 5]


def test_hostile_column_names_are_kept_and_quoted(ws, write):
    names = ['id', 'he said "hi"', "a;b", "x'); DROP TABLE t; --", "select", "Spend (€)"]
    header = ",".join('"' + n.replace('"', '""') + '"' for n in names)
    r = ws.ingest_csv(write("h.csv", header + "\n1,2,3,4,5,6\n"), "t")
    assert list(r.columns) == names
    assert ws.read("t").iloc[0].tolist() == [1, 2, 3, 4, 5, 6]
    prof = ws.profile("t")
    assert prof["column"].tolist() == names
    assert ws.sql('SELECT "he said ""hi""" AS v FROM t')["v"].tolist() == [2]


def test_2000_columns(ws, write):
    n = 2000
    header = ",".join(f"c{i}" for i in range(n))
    rows = "\n".join(",".join(str(r * n + i) for i in range(n)) for r in range(5))
    r = ws.ingest_csv(write("wide.csv", header + "\n" + rows + "\n"), "wide")
    assert len(r.columns) == n and r.rows == 5
    assert ws.read("wide")["c1999"].tolist() == [r * n + 1999 for r in range(5)]


def test_one_megabyte_field(ws, write):
    big = "x" * (1 << 20)
    r = ws.ingest_csv(write("big.csv", f'id,blob\n1,"{big}"\n2,small\n'), "t")
    assert r.rows == 2
    assert ws.sql("SELECT length(blob) AS n FROM t ORDER BY id")["n"].tolist() == [1 << 20, 5]


def test_mixed_date_formats(ws, write):
    data = "id,signup\n1,2024-01-05\n2,01/31/2024\n3,\n4,2024-02-29\n5,03/15/2024\n"
    r = ws.ingest_csv(write("d.csv", data), "t")
    assert r.columns["signup"] == "DATE"
    got = [d.date() if not pd.isna(d) else None for d in ws.read("t")["signup"]]
    assert got == [date(2024, 1, 5), date(2024, 1, 31), None, date(2024, 2, 29), date(2024, 3, 15)]


def test_day_first_dates(ws, write):
    data = "id,order_date\n1,31/01/2024\n2,01/02/2024\n3,15/03/2024\n"
    r = ws.ingest_csv(write("d.csv", data), "t")
    assert r.columns["order_date"] == "DATE"
    assert r.detected["dateformat"] == "%d/%m/%Y"
    got = [d.date() for d in ws.read("t")["order_date"]]
    assert got == [date(2024, 1, 31), date(2024, 2, 1), date(2024, 3, 15)]


def test_dateformat_override(ws, write):
    data = "id,d\n1,01/02/2024\n2,03/04/2024\n"
    ws.ingest_csv(write("d.csv", data), "t", dateformat="%m/%d/%Y")
    assert [d.date() for d in ws.read("t")["d"]] == [date(2024, 1, 2), date(2024, 3, 4)]


def test_thousands_separators(ws, write):
    data = 'id,revenue,units\n1,"1,234.50","12,000"\n2,"$2,000.00",7\n3,15.25,"1,000,000"\n'
    r = ws.ingest_csv(write("t.csv", data), "t")
    df = ws.read("t")
    assert r.columns["revenue"] == "DOUBLE" and r.columns["units"] == "BIGINT"
    assert df["revenue"].tolist() == [1234.5, 2000.0, 15.25]
    assert df["units"].tolist() == [12000, 7, 1_000_000]


def test_text_that_only_looks_numeric_is_kept(ws, write):
    """A column that starts like numbers but holds codes later stays text, with nothing lost."""
    rows = ["id,code"] + [f'{i},"{i},000"' for i in range(1, 30)] + ['30,"ABC-1"']
    r = ws.ingest_csv(write("c.csv", "\n".join(rows) + "\n"), "t")
    assert r.rows == 30 and r.rejected_rows == 0
    assert ws.read("t")["code"].iloc[-1] == "ABC-1"


def test_missing_value_markers(ws, write):
    data = "id,spend,region\n1,N/A,North\n2,null,-\n3,10.5,NA\n4,-,South\n5,7,\n"
    r = ws.ingest_csv(write("m.csv", data), "t")
    df = ws.read("t")
    assert r.columns["spend"] == "DOUBLE"
    assert df["spend"].isna().tolist() == [True, True, False, True, False]
    assert df["region"].isna().sum() == 3


def test_gzip_csv_by_path(ws, tmp_path):
    p = tmp_path / "orders.csv.gz"
    p.write_bytes(gzip.compress(b"id,amount\n1,2.5\n2,3.5\n"))
    r = ws.ingest_csv(p, "orders")
    assert r.detected["compression"] == "gzip"
    assert ws.read("orders")["amount"].tolist() == [2.5, 3.5]


def test_gzip_upload_named_csv(ws):
    buf = io.BytesIO(gzip.compress("id,name\n1,Zoë\n".encode()))
    ws.ingest_csv(buf, "g")
    assert ws.read("g")["name"].tolist() == ["Zoë"]


def test_corrupt_gzip(ws, write):
    with pytest.raises(DataError, match="gzip"):
        ws.ingest_csv(write("bad.csv.gz", b"\x1f\x8b\x08\x00garbage"), "t")


def test_append_with_different_schema_leaves_table_unchanged(ws, write):
    ws.ingest_csv(write("a.csv", "id,spend\n1,2\n"), "sales")
    before = ws.read("sales")
    with pytest.raises(DataError, match="columns differ"):
        ws.ingest_csv(write("b.csv", "id,revenue\n3,4\n"), "sales", mode="append")
    pd.testing.assert_frame_equal(ws.read("sales"), before)


def test_append_with_incompatible_types_leaves_table_unchanged(ws, write):
    ws.ingest_csv(write("a.csv", "id,spend\n1,2\n"), "sales")
    before = ws.read("sales")
    with pytest.raises(DataError, match="append"):
        ws.ingest_csv(write("b.csv", "id,spend\nx,hello\n"), "sales", mode="append")
    pd.testing.assert_frame_equal(ws.read("sales"), before)


def test_name_clash_with_existing_table(ws, write):
    ws.ingest_csv(write("a.csv", "id\n1\n"), "customers")
    with pytest.raises(DataError, match="already exists"):
        ws.ingest_csv(write("b.csv", "id\n2\n3\n"), "Customers")
    assert ws.read("customers")["id"].tolist() == [1]


def test_tab_separated_with_crlf(ws, write):
    r = ws.ingest_csv(write("t.tsv", "id\tname\r\n1\ta\r\n2\tb\r\n"), "t")
    assert r.detected["delimiter"] == "\t"
    assert ws.read("t")["name"].tolist() == ["a", "b"]


def test_no_header(ws, write):
    r = ws.ingest_csv(write("n.csv", "1,2.5,x\n2,3.5,y\n"), "t", header=False)
    assert list(r.columns) == ["column_1", "column_2", "column_3"]
    assert r.rows == 2


def test_hostile_table_name_is_sanitised(ws, write):
    ws.ingest_csv(write("a.csv", "id\n1\n"), "customers")
    r = ws.ingest_csv(write("b.csv", "id\n2\n"), 'x"; DROP TABLE customers; --')
    assert r.table == "x_drop_table_customers"
    assert set(ws.tables()) == {"customers", "x_drop_table_customers"}


def test_unknown_option_and_type(ws, write):
    p = write("a.csv", "id\n1\n")
    with pytest.raises(DataError, match="Unknown CSV option"):
        ws.ingest_csv(p, "t", colour="blue")
    with pytest.raises(DataError, match="Unknown column type"):
        ws.ingest_csv(p, "t", types={"id": "BIGINT); DROP TABLE x; --"})
    with pytest.raises(DataError, match="unknown column"):
        ws.ingest_csv(p, "t", types={"nope": "text"})


# The fast path reads with only the missing-value markers and line sizes seen in the first 1 MB;
# anything beyond that must still load exactly as the careful read would.
def test_missing_marker_only_after_the_sample(ws, write):
    body = "".join(f"{i},{i % 97}.25\n" for i in range(150_000))  # ~1.7 MB of clean numbers
    path = write("late_na.csv", "id,amount\n" + body + "150000,N/A\n150001,n/a\n")
    report = ws.ingest_csv(path, "t")
    assert report.rejected_rows == 0 and report.rows == 150_002
    assert report.columns["amount"] == "DOUBLE"
    tail = ws.sql("SELECT amount FROM t WHERE id >= 150000")
    assert tail["amount"].isna().all()


def test_very_long_line_after_the_sample(ws, write):
    body = "".join(f"{i},short\n" for i in range(150_000))
    huge = "x" * (3 * 1024 * 1024)  # 3 MB: beyond DuckDB's default 2 MB line limit
    path = write("late_long.csv", "id,note\n" + body + f"150000,{huge}\n150001,end\n")
    report = ws.ingest_csv(path, "t")
    assert report.rejected_rows == 0 and report.rows == 150_002
    assert ws.sql("SELECT length(note) AS n FROM t WHERE id = 150000")["n"].iloc[0] == len(huge)


# ---------------------------------------------------------------- issue 10: nothing lost, nothing mis-read

def test_unterminated_quote_after_the_sample_swallows_nothing(ws, write):
    """50,000 good rows, one line opening a quote that never closes, then 1,000,000 good rows."""
    head = "".join(f"{i},n{i}\n" for i in range(50_000))
    tail = "".join(f"{i},n{i}\n" for i in range(50_001, 1_050_001))
    path = write("broken_quote.csv", "id,name\n" + head + '50000,"oops\n' + tail)
    r = ws.ingest_csv(path, "t")
    assert r.rows == 1_050_000 and r.rejected_rows == 1
    assert r.rejects["line"].tolist() == [50_002]  # the header is line 1
    assert r.rejects["raw_line"].tolist() == ['50000,"oops']
    assert "unterminated quote" in r.rejects["error"].iloc[0].lower()
    note = next(w for w in r.warnings if "never closed" in w)
    assert "Line 50,002" in note and "1,000,000 lines" in note and f"{len(tail.encode()):,} bytes" in note
    assert ws.sql("SELECT count(*) AS n, max(id) AS top FROM t").iloc[0].tolist() == [1_050_000, 1_050_000]


def test_two_unterminated_quotes_keep_their_own_line_numbers(ws, write):
    lines = ["id,name,v"] + [f"{i},n{i},{i}" for i in range(1, 200)]
    lines[50] = '50,"bad,50'
    lines[120] = '120,"worse,120'
    r = ws.ingest_csv(write("two.csv", "\n".join(lines) + "\n"), "t")
    assert r.rejected_rows == 2 and r.rows == 197
    assert r.rejects["line"].tolist() == [51, 121]
    assert set(ws.read("t")["id"]) == set(range(1, 200)) - {50, 120}


def test_unterminated_quote_closed_by_a_later_quote(ws, write):
    """The broken quote closes at the next quote: the lines in between are recovered, not lost."""
    data = 'id,name,v\n1,"ok",2\n2,"bad,3\n3,x,4\n4,"fine",5\n5,y,6\n'
    r = ws.ingest_csv(write("later.csv", data), "t")
    assert r.rejected_rows == 1 and r.rejects["line"].tolist() == [3]
    assert sorted(ws.read("t")["id"]) == [1, 3, 4, 5]
    assert any("swallowed the 2 lines" in w for w in r.warnings)


def test_unterminated_quote_in_latin1_and_gzip_files(ws, write, tmp_path):
    """DuckDB counts UTF-8 bytes; the broken line is still found in latin-1 text and inside a .gz."""
    text = ("id,name\n" + "".join(f"{i},Müller {i}\n" for i in range(1, 300)) + '300,"Zoë\n'
            + "".join(f"{i},Señor {i}\n" for i in range(301, 600)))
    r = ws.ingest_csv(write("l1.csv", text.encode("latin-1")), "t", encoding="latin-1")
    assert r.rows == 598 and r.rejected_rows == 1 and r.rejects["line"].tolist() == [301]
    assert r.rejects["raw_line"].tolist() == ['300,"Zoë'] and ws.read("t")["name"].iloc[-1] == "Señor 599"
    gz = tmp_path / "broken.csv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    r = ws.ingest_csv(gz, "t2")
    assert r.rows == 598 and r.rejects["line"].tolist() == [301]


WIDE_IDS = [12345678901234567890123, 12345678901234567890124, 12345678901234567890125]


def test_integers_wider_than_64_bits_stay_distinct(ws, write):
    data = "customer_id,spend\n" + "".join(f"{c},{i}.5\n" for i, c in enumerate(WIDE_IDS))
    r = ws.ingest_csv(write("wide_ids.csv", data), "t")
    assert r.columns["customer_id"] == "VARCHAR"
    assert any("wider than 64 bits" in w and "customer_id" in w for w in r.warnings)
    assert ws.read("t")["customer_id"].tolist() == [str(c) for c in WIDE_IDS]
    assert ws.sql("SELECT count(DISTINCT customer_id) AS n FROM t")["n"].iloc[0] == 3


def test_mixed_line_endings_load_every_row(ws, write):
    rows = [f"{i},name {i},{i}.25" for i in range(1, 101)]
    body = "".join(row + ("\r\n" if i % 3 else "\n") for i, row in enumerate(rows))
    r = ws.ingest_csv(write("mixed_eol.csv", "id,name,v\r\n" + body), "t")
    assert r.rows == 100 and r.rejected_rows == 0
    df = ws.read("t")
    assert df["name"].tolist() == [f"name {i}" for i in range(1, 101)]  # no stray \r
    assert r.columns["v"] == "DOUBLE" and df["v"].iloc[-1] == 100.25
    assert any("line endings" in w for w in r.warnings)


def test_mixed_line_endings_after_the_sample(ws, write):
    body = "".join(f"{i},n{i}\r\n" for i in range(150_000))  # ~1.8 MB of CRLF, then LF lines
    r = ws.ingest_csv(write("late_eol.csv", "id,name\r\n" + body + "150000,a\n150001,b\n"), "t")
    assert r.rows == 150_002 and r.rejected_rows == 0
    assert ws.sql("SELECT name FROM t WHERE id >= 149999 ORDER BY id")["name"].tolist() == ["n149999", "a", "b"]


def test_excel_sep_line(ws, write):
    r = ws.ingest_csv(write("excel.csv", "sep=;\nid;amount;city\n1;2,5;Köln\n2;3;Paris\n"), "t")
    assert r.detected["delimiter"] == ";" and r.detected["skip"] == 1
    assert list(r.columns) == ["id", "amount", "city"]
    assert r.rows == 2 and ws.read("t")["amount"].tolist() == [2.5, 3.0]
    plan = ws.inspect_csv(write("excel2.csv", "sep=,\nid,v\n1,2\n"))
    assert any("sep=," in w and "skipped" in w for w in plan.warnings)


def test_leading_plus_signs_are_numbers(ws, write):
    r = ws.ingest_csv(write("plus.csv", "id,change,phone\n1,+12,+4930123456\n2,-3,+4420794600\n3,+4,+3314567890\n"), "t")
    assert r.columns["change"] == "BIGINT" and ws.read("t")["change"].tolist() == [12, -3, 4]
    assert r.columns["phone"] == "VARCHAR"  # international phone numbers stay text


def test_number_beyond_double_range_is_missing_and_counted(ws, write):
    r = ws.ingest_csv(write("huge.csv", "id,v\n1,1e400\n2,2.5\n3,-1e999\n4,7\n"), "t")
    assert r.columns["v"] == "DOUBLE" and r.rows == 4
    v = ws.read("t")["v"]
    assert v.isna().tolist() == [True, False, True, False]
    assert not (v.abs() == float("inf")).any()
    assert any("2 values in column 'v'" in w and "missing" in w for w in r.warnings)


def test_repeated_header_lines_are_skipped_and_counted(ws, write):
    part = "id,amount,day\n" + "".join(f"{i},{i}.5,2024-01-{i:02d}\n" for i in range(1, 11))
    r = ws.ingest_csv(write("joined.csv", part + part.replace(",1.5,", ",1.5,") + part), "t")
    assert r.rows == 30 and r.rejected_rows == 0
    assert r.columns == {"id": "BIGINT", "amount": "DOUBLE", "day": "DATE"}
    assert "2 repeated header lines skipped." in r.warnings
    assert "id" not in ws.read("t")["id"].astype(str).tolist()


def test_repeated_header_after_the_sample_and_in_text_tables(ws, write):
    body = "".join(f"{i},n{i}\n" for i in range(30_000))
    r = ws.ingest_csv(write("late_header.csv", "id,name\n" + body + "id,name\n30000,x\n"), "t")
    assert r.rows == 30_001 and r.rejected_rows == 0
    assert "1 repeated header line skipped." in r.warnings
    r = ws.ingest_csv(write("text.csv", "name,city\nAnn,Oslo\nname,city\nBo,Rome\n"), "t2")
    assert r.rows == 2 and ws.read("t2")["name"].tolist() == ["Ann", "Bo"]
    assert "1 repeated header line skipped." in r.warnings


def test_blank_cells_in_number_columns_are_missing(ws, write):
    data = "id,total,when\n1,29.85,2024-01-01\n2, ,2024-01-02\n3,1889.5,  \n4,,2024-01-04\n5,\t,2024-01-05\n"
    r = ws.ingest_csv(write("blanks.csv", data), "t")
    assert r.columns["total"] == "DOUBLE" and r.columns["when"] == "DATE"
    assert r.rows == 5 and r.rejected_rows == 0
    df = ws.read("t")
    assert df["total"].isna().tolist() == [False, True, False, True, True]
    assert "2 blank cells in total loaded as missing." in r.warnings
    assert "1 blank cell in when loaded as missing." in r.warnings


def test_blank_cells_after_the_sample_and_forced_types(ws, write):
    body = "".join(f"{i},{i}.5\n" for i in range(30_000))
    r = ws.ingest_csv(write("late_blank.csv", "id,v\n" + body + "30000, \n30001,2\n"), "t")
    assert r.rows == 30_002 and r.rejected_rows == 0 and r.columns["v"] == "DOUBLE"
    assert "1 blank cell in v loaded as missing." in r.warnings
    r = ws.ingest_csv(write("forced.csv", "id,v\n1, \n2,3\n"), "t2", types={"v": "number"})
    assert r.rows == 2 and r.rejected_rows == 0 and r.columns["v"] == "DOUBLE"
    assert ws.read("t2")["v"].isna().tolist() == [True, False]


TELCO = Path(__file__).resolve().parents[2] / "shared" / "data" / "telco_churn" / "Telco-Customer-Churn.csv"


@pytest.mark.skipif(not TELCO.exists(), reason="../shared/data (public data sets) is not present")
def test_telco_total_charges_is_a_number(ws):
    plan = ws.inspect_csv(TELCO)
    assert plan.final_types["TotalCharges"] == "DOUBLE"
    r = ws.ingest_csv(TELCO, "telco")
    assert r.rows == 7043 and r.rejected_rows == 0
    assert r.columns["TotalCharges"] == "DOUBLE"
    assert "11 blank cells in TotalCharges loaded as missing." in r.warnings
    assert ws.sql("SELECT count(*) - count(TotalCharges) AS n FROM telco")["n"].iloc[0] == 11
    r = ws.ingest_csv(TELCO, "telco", mode="replace", types={"TotalCharges": "number"})
    assert r.rows == 7043 and r.rejected_rows == 0
