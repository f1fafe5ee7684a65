"""Look at a CSV file before loading it: encoding, compression, dialect, header, column types.

DuckDB's own sniffer does most of the work (header, types, date formats). Around it we add what
it does not do, or does unreliably on dirty files: refusing binary files with a clear message,
encoding detection (and transcoding of encodings DuckDB cannot read), choosing the delimiter by
the consistency of field counts, and spotting text columns that are really numbers with
thousands separators / decimal commas, or dates written in more than one format.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import shutil
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Collection

import duckdb
import pandas as pd

from core import config
from core.errors import DataError
from core.wording import plural
from core.data.identifiers import quote_ident, quote_literal, unique_column_names

SAMPLE_BYTES = 1 << 20  # bytes looked at for encoding and dialect detection
SAMPLE_ROWS = 20_000  # rows used to verify types before loading
MAX_LINE_SIZE = 64 * 1024 * 1024  # longest line accepted (a 1 MB field is fine)
ISO_DATE, ISO_TIMESTAMP = "%Y-%m-%d", "%Y-%m-%d %H:%M:%S"
MARKER_SCAN = 256 * 1024  # missing-value markers are looked for in the first 256 KB (the careful re-read covers the rest)
_CONTROL_BYTES = bytes(b for b in range(32) if b < 9 or (13 < b and b != 27))
HEADER_REPEAT_NOTE = "such lines are skipped when loading and counted"
WHITESPACE = " \t\r\n\u00a0"  # a cell holding only these is blank: a missing value
NULL_STRINGS = ["", "NA", "N/A", "n/a", "#N/A", "NULL", "null", "None", "NaN", "nan", "-"]
DELIMITERS = [",", ";", "\t", "|"]
NATIVE_ENCODINGS = {
    "utf-8": "utf-8", "utf8": "utf-8", "utf-8-sig": "utf-8", "ascii": "utf-8",
    "latin-1": "latin-1", "latin1": "latin-1", "iso-8859-1": "latin-1", "iso8859-1": "latin-1",
    "latin_1": "latin-1", "iso8859_1": "latin-1",
}
MAGIC = [
    (b"PK\x03\x04", "a ZIP archive or an Excel .xlsx workbook", "Open it in Excel and use Save As > CSV (UTF-8)."),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook", "Open it in Excel and use Save As > CSV (UTF-8)."),
    (b"%PDF", "a PDF document", "Export the table as CSV from the tool that made it."),
    (b"\x89PNG", "a PNG image", "Upload the data as a CSV file."),
    (b"\xff\xd8\xff", "a JPEG image", "Upload the data as a CSV file."),
    (b"GIF8", "a GIF image", "Upload the data as a CSV file."),
    (b"PAR1", "a Parquet file", "Export it as CSV first."),
    (b"SQLite format 3", "a SQLite database", "Export the table as CSV first."),
    (b"BZh", "bzip2-compressed", "Decompress it, or compress it with gzip (.csv.gz) instead."),
    (b"\xfd7zXZ", "xz-compressed", "Decompress it, or compress it with gzip (.csv.gz) instead."),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "Decompress it, or compress it with gzip (.csv.gz) instead."),
    (b"7z\xbc\xaf", "a 7-Zip archive", "Extract the CSV file and upload that."),
]
TYPE_ALIASES = {
    "text": "VARCHAR", "string": "VARCHAR", "str": "VARCHAR", "varchar": "VARCHAR",
    "int": "BIGINT", "integer": "BIGINT", "bigint": "BIGINT", "int64": "BIGINT",
    "float": "DOUBLE", "double": "DOUBLE", "number": "DOUBLE", "numeric": "DOUBLE", "float64": "DOUBLE",
    "date": "DATE", "datetime": "TIMESTAMP", "timestamp": "TIMESTAMP", "time": "TIME",
    "bool": "BOOLEAN", "boolean": "BOOLEAN",
}
_TYPE_RE = re.compile(
    r"^(VARCHAR|BIGINT|INTEGER|SMALLINT|TINYINT|HUGEINT|UBIGINT|UINTEGER|DOUBLE|FLOAT|REAL|DATE|"
    r"TIMESTAMP|TIMESTAMPTZ|TIME|BOOLEAN|DECIMAL\(\d{1,2}, ?\d{1,2}\))$"
)


@dataclass
class Conversion:
    """A text column that should become numbers or dates after loading (validated on all rows)."""

    kind: str  # "number_us", "number_eu" or "date"
    target: str  # DuckDB type
    expr: str  # SQL converting the column; NULL where a value does not fit
    note: str


@dataclass
class CsvPlan:
    """Everything needed to read one CSV file with DuckDB, as detected and then overridden."""

    source: Path  # the original file
    path: Path  # the file DuckDB reads (a UTF-8 copy when the source had another encoding)
    encoding: str  # encoding of the source as detected or chosen
    duckdb_encoding: str
    compression: str | None
    delimiter: str
    quote: str
    escape: str
    header: bool
    skip: int
    dateformat: str | None
    timestampformat: str | None
    decimal_separator: str
    nullstr: list[str]
    null_padding: bool
    columns: dict[str, str]  # final column name -> DuckDB type used while reading
    conversions: dict[str, Conversion] = field(default_factory=dict)
    renames: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    preview: pd.DataFrame = field(default_factory=pd.DataFrame)
    temp_files: list[Path] = field(default_factory=list)
    sample_nulls: list[str] | None = None  # missing-value markers seen in the sample (None: not known)
    long_lines: bool = True  # the sample has lines near DuckDB's default 2 MB line limit
    header_names: list[str] = field(default_factory=list)  # column names as written in the header
    header_line: str | None = None  # the header line as written (to spot it repeated further down)
    header_repeats: int = 0  # lines equal to the header seen in the sample
    newlines_normalised: bool = False  # a copy with uniform line endings is read

    @property
    def final_types(self) -> dict[str, str]:
        """Column types after conversions, i.e. what the loaded table will have."""
        return {c: (self.conversions[c].target if c in self.conversions else t) for c, t in self.columns.items()}

    def detected(self) -> dict[str, Any]:
        """The options as a plain dict (shown to the user and kept in the ingest report)."""
        return {
            "encoding": self.encoding,
            "compression": self.compression or "none",
            "delimiter": self.delimiter,
            "quote": self.quote,
            "escape": self.escape,
            "header": self.header,
            "skip": self.skip,
            "dateformat": self.dateformat,
            "timestampformat": self.timestampformat,
            "decimal_separator": self.decimal_separator,
            "nullstr": list(self.nullstr),
            "null_padding": self.null_padding,
            "columns": self.final_types,
            "conversions": {c: v.note for c, v in self.conversions.items()},
        }

    def read_csv_sql(self, *, rejects_table: str | None = None, rejects_scan: str | None = None,
                     all_varchar: bool = False, ignore_errors: bool = False, lean: bool = False,
                     big_lines: bool | None = None) -> str:
        """The read_csv(...) table function call for this plan; every value is quoted.

        lean=True is the fast path for big clean files: only the missing-value markers seen in the
        sample, DuckDB's default line-size limit and its native ISO date parser (a long marker list
        and a 64 MB line buffer cost DuckDB ~35% more time). The loader re-reads carefully with the
        full options whenever the lean read rejects a row or fails.
        """
        nullstr = self.nullstr
        if lean and self.sample_nulls is not None:
            nullstr = [n for n in self.nullstr if n == "" or n in self.sample_nulls]
        cols = ", ".join(
            f"{quote_literal(name)}: {quote_literal('VARCHAR' if all_varchar else typ)}"
            for name, typ in self.columns.items()
        )
        opts = [
            quote_literal(str(self.path)),
            "auto_detect=false",
            f"delim={quote_literal(self.delimiter)}",
            f"quote={quote_literal(self.quote)}",
            f"escape={quote_literal(self.escape)}",
            f"header={'true' if self.header else 'false'}",
            f"skip={int(self.skip)}",
            f"columns={{{cols}}}",
            f"nullstr=[{', '.join(quote_literal(s) for s in nullstr)}]",
            f"encoding={quote_literal(self.duckdb_encoding)}",
            f"null_padding={'true' if self.null_padding else 'false'}",
        ]
        if (not lean or self.long_lines) if big_lines is None else big_lines:
            opts.append(f"max_line_size={MAX_LINE_SIZE}")  # costs ~0.2 s per read: only when needed
        if self.compression:
            opts.append(f"compression={quote_literal(self.compression)}")
        if self.dateformat and not all_varchar and not (lean and self.dateformat == ISO_DATE):
            opts.append(f"dateformat={quote_literal(self.dateformat)}")
        if self.timestampformat and not all_varchar and not (lean and self.timestampformat == ISO_TIMESTAMP):
            opts.append(f"timestampformat={quote_literal(self.timestampformat)}")
        if self.decimal_separator != "." and not all_varchar:
            opts.append(f"decimal_separator={quote_literal(self.decimal_separator)}")
        if rejects_table:
            opts += ["store_rejects=true", f"rejects_table={quote_literal(rejects_table)}",
                     f"rejects_scan={quote_literal(rejects_scan or rejects_table + '_scan')}"]
        if ignore_errors:
            opts.append("ignore_errors=true")
        return "read_csv(" + ", ".join(opts) + ")"

    def cleanup(self) -> None:
        """Remove temporary files made for this plan (transcoded copies)."""
        for p in self.temp_files:
            p.unlink(missing_ok=True)
        self.temp_files.clear()


# ---------------------------------------------------------------- bytes level

def _read_sample(path: Path) -> tuple[bytes, str | None]:
    """First SAMPLE_BYTES of the (decompressed) file and the compression found."""
    size = path.stat().st_size
    if size == 0:
        raise DataError("The file is empty (0 bytes). Export the data again and upload the new file.")
    with open(path, "rb") as f:
        head = f.read(SAMPLE_BYTES)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as g:
                sample = g.read(SAMPLE_BYTES)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(
                f"The file looks gzip-compressed but cannot be decompressed ({e}). "
                "Upload the uncompressed CSV, or compress it again with gzip."
            ) from None
        if not sample:
            raise DataError("The compressed file holds no data. Export the data again and upload the new file.")
        return sample, "gzip"
    for magic, what, advice in MAGIC:
        if head.startswith(magic):
            raise DataError(f"This file is {what}, not a CSV text file. {advice}")
    return head, None


def _check_expansion(path: Path) -> None:
    """Refuse a compressed file that expands past MW_MAX_DECOMPRESSED_MB (a 'zip bomb'), in seconds.

    The size in the gzip trailer can lie, so the file is decompressed (and thrown away) up to the cap.
    """
    cap_mb = config.max_decompressed_mb()
    cap = int(cap_mb * 1_000_000)
    seen = 0
    try:
        with gzip.open(path, "rb") as g:
            while True:
                block = g.read(1 << 22)
                if not block:
                    return
                seen += len(block)
                if seen > cap:
                    break
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(
            f"The compressed file is damaged ({e}) after {seen / 1e6:,.0f} MB. Compress the CSV "
            "again with gzip, or upload it uncompressed."
        ) from None
    packed = path.stat().st_size
    raise DataError(
        f"The compressed file expands to more than {cap_mb:,g} MB (from {packed / 1e6:,.1f} MB), more than "
        "this workbench loads from one compressed file (MW_MAX_DECOMPRESSED_MB). Split it into smaller "
        "files, or ask an admin to raise the limit."
    )


def _check_width(sample: bytes, delimiter: str | None) -> None:
    """Refuse a file whose first line has more fields than MW_MAX_COLUMNS, before any parsing."""
    cap = config.max_columns()
    end = sample.find(b"\n")
    line = sample if end < 0 else sample[:end]
    candidates = [delimiter] if delimiter else list(DELIMITERS)
    # Delimiters inside quoted fields do not separate columns: count with those fields blanked out.
    line = re.sub(rb'"[^"]*"', b'""', line)
    for delim in candidates:
        fields = line.count(delim.encode("utf-8", "ignore") or b",") + 1
        if fields > cap:
            raise DataError(
                f"The file's first line has about {fields:,} columns, more than the {cap:,} this workbench "
                "loads (MW_MAX_COLUMNS). Check the delimiter (Data page, 'Correct the detection'), or "
                "split the file into narrower tables."
            )


def _looks_binary(sample: bytes) -> bool:
    if b"\x00" in sample:
        return True
    head = sample[:65536]
    control = len(head) - len(head.translate(None, _CONTROL_BYTES))  # counted in C, not byte by byte
    return control > 0.01 * max(1, len(head))


def _detect_encoding(sample: bytes, truncated: bool) -> str:
    """Python codec name of the text in sample."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(sample) > 3 and b"\x00" in sample[:200]:
        # UTF-16 without a BOM: every other byte of ASCII text is NUL.
        evens, odds = sample[0:400:2], sample[1:400:2]
        if odds.count(0) > 0.8 * len(odds):
            return "utf-16-le"
        if evens.count(0) > 0.8 * len(evens):
            return "utf-16-be"
    if _looks_binary(sample):
        raise DataError(
            "This file is not text: it contains binary data. Check that you picked the right file, "
            "and export the data as CSV."
        )
    text = sample
    if truncated:  # do not judge a multi-byte character cut at the end of the sample
        text = sample[: max(1, len(sample) - 4)]
    try:
        text.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    results = list(from_bytes(sample))
    best = min(results, key=lambda m: m.chaos) if results else None
    if best is not None:
        # Marketing exports that are not UTF-8 are overwhelmingly Windows-1252 / Latin-1; prefer
        # them when they read the bytes about as cleanly as the statistically best guess.
        for preferred in ("cp1252", "latin_1", "iso8859_15"):
            near = [m for m in results if m.encoding == preferred and m.chaos <= best.chaos + 0.1]
            if near:
                best = near[0]
                break
    if best is None:
        raise DataError(
            "Could not tell the text encoding of this file. Save it as 'CSV UTF-8', or choose the "
            "encoding (for example latin-1 or windows-1252) in the load options."
        )
    enc = codecs.lookup(best.encoding).name
    if enc in ("cp1252", "windows-1252") and not any(0x80 <= b <= 0x9F for b in sample):
        return "latin-1"  # identical on these bytes, and DuckDB reads latin-1 natively
    return enc


def mixed_newlines(text: str) -> bool:
    """Whether the text has Windows (CRLF) and Unix (LF) line endings side by side."""
    return "\r\n" in text and re.search(r"(?<!\r)\n", text) is not None


NEWLINES_NOTE = ("The file mixes Windows (CRLF) and Unix (LF) line endings; it was read with uniform line "
                 "endings (a CRLF inside a quoted text value reads as LF).")


def _uniform_newlines(path: Path, compression: str | None, tmp_dir: Path) -> Path:
    """A copy of the file with every CRLF turned into LF (streamed, never all in memory).

    DuckDB's parser stops with "state machine reached an invalid state" on a file mixing both.
    """
    tmp_dir.mkdir(parents=True, exist_ok=True)
    out = tmp_dir / f"newlines-{uuid.uuid4().hex}.csv"
    opener = gzip.open if compression == "gzip" else open
    try:
        with opener(path, "rb") as src, open(out, "wb") as dst:
            carry = b""
            while True:
                block = src.read(1 << 22)
                if not block:
                    dst.write(carry)
                    break
                block = carry + block
                carry = b"\r" if block.endswith(b"\r") else b""
                if carry:
                    block = block[:-1]
                dst.write(block.replace(b"\r\n", b"\n"))
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return out


def normalise_newlines(plan: CsvPlan, tmp_dir: Path) -> None:
    """Make the plan read a copy of its file with uniform (LF) line endings."""
    out = _uniform_newlines(plan.path, plan.compression, tmp_dir)
    for old in [t for t in plan.temp_files if t == plan.path]:
        old.unlink(missing_ok=True)
        plan.temp_files.remove(old)
    plan.path, plan.compression, plan.newlines_normalised = out, None, True
    plan.temp_files.append(out)
    plan.warnings.append(NEWLINES_NOTE)


def _transcode(path: Path, compression: str | None, encoding: str, tmp_dir: Path) -> Path:
    """Write a UTF-8 copy of a file in another encoding (streamed, never all in memory)."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    out = tmp_dir / f"transcoded-{uuid.uuid4().hex}.csv"
    opener = gzip.open if compression == "gzip" else open
    try:
        with opener(path, "rb") as src, open(out, "w", encoding="utf-8", newline="") as dst:
            reader = codecs.getreader(encoding)(src, "strict")  # errors: positional in the StreamReader protocol
            shutil.copyfileobj(reader, dst, 1 << 20)
    except UnicodeDecodeError as e:
        out.unlink(missing_ok=True)
        raise DataError(
            f"The file is not valid {encoding} text (byte {e.start} of a block cannot be decoded). "
            "Choose another encoding in the load options, or save the file as 'CSV UTF-8'."
        ) from None
    return out


# ---------------------------------------------------------------- dialect level

def _choose_delimiter(text: str) -> str | None:
    """The delimiter that splits the sample into the most consistent number of fields (>1)."""
    best: tuple[float, int, int] | None = None
    choice = None
    for order, delim in enumerate(DELIMITERS):
        if delim not in text:
            continue
        try:
            rows = [r for _, r in zip(range(300), csv.reader(io.StringIO(text), delimiter=delim)) if r]
        except csv.Error:
            continue
        counts = pd.Series([len(r) for r in rows])
        if counts.empty:
            continue
        mode = int(counts.mode().iloc[0])
        if mode <= 1:
            continue
        score = (float((counts == mode).mean()), mode, -order)
        if best is None or score > best:
            best, choice = score, delim
    return choice


def _first_row(text: str, delim: str, quote: str, skip: int) -> list[str]:
    try:
        reader = csv.reader(io.StringIO(text), delimiter=delim, quotechar=quote or '"',
                            quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE)
        for i, row in enumerate(reader):
            if i == skip:
                return row
    except csv.Error:
        pass
    return []


def _duckdb_message(e: Exception) -> str:
    return str(e).split("\n")[0].replace("Invalid Input Error: ", "").replace("Conversion Error: ", "")


def normalise_type(typ: str) -> str:
    """A user-written type ('text', 'int', 'DOUBLE', 'decimal(10,2)') as a DuckDB type, or DataError."""
    t = str(typ).strip()
    mapped = TYPE_ALIASES.get(t.lower())
    if mapped:
        return mapped
    up = t.upper()
    if _TYPE_RE.match(up):
        return up
    raise DataError(
        f"Unknown column type '{typ}'. Use one of: text, integer, number, date, timestamp, boolean "
        "(or a DuckDB type such as VARCHAR, BIGINT, DOUBLE, DATE, TIMESTAMP, BOOLEAN, DECIMAL(18,2))."
    )


# ---------------------------------------------------------------- text columns that are numbers or dates

_NUM_US = re.compile(r"^[+-]?[$€£]?\s?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
_NUM_EU = re.compile(r"^[+-]?[$€£]?\s?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?\s?[€]?$")
_PHONE_NAME = re.compile(r"phone|tel|mobile|fax|msisdn|whatsapp", re.IGNORECASE)
_SLASH = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_DATE_FORMATS_ANY = ["%Y-%m-%d", "%Y/%m/%d", "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%b %d %Y"]


def _date_formats(dayfirst: bool) -> list[str]:
    mid = ["%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y"] if dayfirst else ["%m/%d/%Y", "%m.%d.%Y", "%m-%d-%Y"]
    return _DATE_FORMATS_ANY[:2] + mid + _DATE_FORMATS_ANY[2:]


def _parses(value: str, formats: list[str]) -> bool:
    for fmt in formats:
        try:
            datetime.strptime(value, fmt)
            return True
        except ValueError:
            continue
    return False


def _text_conversion(name: str, values: list[str], prefer_eu: bool) -> Conversion | None:
    """A conversion for a text column whose sample values are all numbers or all dates."""
    vals = [v.strip() for v in values if v is not None and v.strip() != ""]
    if len(vals) < 1:
        return None
    col = quote_ident(name)
    us = all(_NUM_US.match(v) for v in vals)
    eu = all(_NUM_EU.match(v) for v in vals)
    if us or eu:
        use_eu = eu and (prefer_eu or not us)
        if use_eu:
            cleaned = f"replace(regexp_replace(trim({col}), '[.$€£\\s]', '', 'g'), ',', '.')"
            note = "numbers written with decimal commas / dot thousands separators"
            integer = not any("," in v for v in vals)
        else:
            cleaned = f"regexp_replace(trim({col}), '[,$€£\\s]', '', 'g')"
            note = "numbers written with thousands separators or currency signs"
            integer = not any("." in v for v in vals)
        signed = any(v.startswith("+") for v in vals)
        if not any(re.search(r"[,.$€£]", v) for v in vals) and not signed:
            return None  # plain numbers DuckDB would have typed itself; kept as text on purpose
        if signed and (_PHONE_NAME.search(name) or all(v.startswith("+") and len(re.sub(r"\D", "", v)) >= 7
                                                        for v in vals)):
            return None  # international phone numbers (+4930...) are text, not amounts
        if not any(re.search(r"[,$€£]", v) for v in vals) and not (use_eu and any("." in v for v in vals)):
            note = "numbers with a leading + sign" if signed else "numbers"
        if integer:
            expr = f"CASE WHEN {cleaned} ~ '^[+-]?[0-9]+$' THEN TRY_CAST({cleaned} AS BIGINT) END"
            return Conversion("number_eu" if use_eu else "number_us", "BIGINT", expr, note)
        return Conversion("number_eu" if use_eu else "number_us", "DOUBLE",
                          f"TRY_CAST({cleaned} AS DOUBLE)", note)
    # dates in one or more formats
    slash = [_SLASH.match(v) for v in vals]
    firsts = [int(m.group(1)) for m in slash if m]
    seconds = [int(m.group(2)) for m in slash if m]
    day_first_evidence = any(x > 12 for x in firsts)
    month_first_evidence = any(x > 12 for x in seconds)
    if day_first_evidence and month_first_evidence:
        return None
    dayfirst = day_first_evidence or not month_first_evidence and prefer_eu
    formats = _date_formats(dayfirst)
    if not all(_parses(v, formats) for v in vals):
        return None
    parts = ", ".join(f"try_strptime(trim({col}), {quote_literal(f)})" for f in formats)
    ambiguous = bool(firsts) and not day_first_evidence and not month_first_evidence
    note = "dates in mixed formats"
    if firsts:
        note += ", read as " + ("day-first" if dayfirst else "month-first")
        if ambiguous:
            note += " (ambiguous: set the date format to change it)"
    return Conversion("date", "DATE", f"CAST(coalesce({parts}) AS DATE)", note)


# ---------------------------------------------------------------- the plan

def plan_csv(con: duckdb.DuckDBPyConnection, path: str | Path, tmp_dir: Path, **options: Any) -> CsvPlan:
    """Detect how to read a CSV file; options override what is detected.

    options: delimiter (or delim/sep), quote, escape, header, encoding, skip, dateformat,
    timestampformat, decimal_separator, nullstr, null_padding, types (or column_types): dict of
    column -> type. Raises DataError for files that cannot be read as CSV.
    """
    opts = _normalise_options(options)
    src = Path(path)
    if not src.exists():
        raise DataError(f"File not found: {src}. Check the path and try again.")
    if src.is_dir():
        raise DataError(f"{src} is a folder, not a file. Choose a CSV file inside it.")
    sample, compression = _read_sample(src)
    if compression == "gzip":
        _check_expansion(src)
    _check_width(sample, opts.get("delimiter"))
    truncated = len(sample) >= SAMPLE_BYTES
    encoding = opts.get("encoding") or _detect_encoding(sample, truncated)
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise DataError(f"Unknown encoding '{encoding}'. Use utf-8, latin-1, windows-1252, utf-16 ...") from None
    warnings: list[str] = []
    temp_files: list[Path] = []
    native = NATIVE_ENCODINGS.get(codec) or NATIVE_ENCODINGS.get(encoding.lower())
    read_path, read_compression = src, compression
    if native is None:
        read_path = _transcode(src, compression, codec, tmp_dir)
        temp_files.append(read_path)
        read_compression, native = None, "utf-8"
        warnings.append(f"The file is {encoding} text; it was converted to UTF-8 for loading.")
    text = sample.decode(codec if codec != "utf-8" else "utf-8-sig", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    if truncated and text.count("\n") > 2:
        text = text[: text.rfind("\n") + 1]  # drop the partial last line
    if not text.strip():
        raise DataError("The file holds only blank lines. Export the data again and upload the new file.")
    hint = re.match(r'"?sep=(.)"?[ \t]*\r?\n', text, re.IGNORECASE)
    if hint and "skip" not in opts:
        # Excel writes "sep=;" as the first line of a CSV to name its delimiter: a hint, not data
        hinted = hint.group(1)
        opts.setdefault("delimiter", hinted)
        opts["skip"] = 1
        shown = {"\t": "tab"}.get(hinted, hinted)
        warnings.append(
            f"The first line 'sep={shown}' is Excel's delimiter hint, not data: the file was read with "
            f"'{shown}' as the delimiter and that line was skipped."
        )
    if mixed_newlines(text):
        uniform = _uniform_newlines(read_path, read_compression, tmp_dir)
        for p in [t for t in temp_files if t == read_path]:
            p.unlink(missing_ok=True)
            temp_files.remove(p)
        read_path, read_compression = uniform, None
        temp_files.append(uniform)
        warnings.append(NEWLINES_NOTE)

    delim = opts.get("delimiter") or _choose_delimiter(text) or ","
    quote = opts.get("quote")
    if quote is None:
        quote = '"' if re.search(r'(^|[\n' + re.escape(delim) + r'])"', text) else ""
    # the sample is at most 1 MB and cut at a line end, so a line over 1 MB shows as "fewer than 2 lines";
    # a long line further down makes the fast read fail and the careful re-read handle it
    long_lines = text.count("\n") < 2
    sniff_args = [
        f"delim={quote_literal(delim)}",
        f"nullstr=[{', '.join(quote_literal(s) for s in opts.get('nullstr', NULL_STRINGS))}]",
        f"encoding={quote_literal(native)}",
    ]
    if long_lines:
        sniff_args.append(f"max_line_size={MAX_LINE_SIZE}")
    if quote:
        sniff_args.append(f"quote={quote_literal(quote)}")
    if "skip" not in opts:
        # DuckDB's sniffer may skip most of a file to reach a few odd trailing rows; preamble lines
        # are rare in exports, so we start at the top unless the user says otherwise.
        sniff_args.append("skip=0")
    if "escape" in opts:
        sniff_args.append(f"escape={quote_literal(opts['escape'])}")
    if read_compression:
        sniff_args.append(f"compression={quote_literal(read_compression)}")
    for key in ("header", "skip", "dateformat", "timestampformat", "decimal_separator", "null_padding"):
        if key in opts and opts[key] is not None:
            v = opts[key]
            sniff_args.append(f"{key}={('true' if v else 'false') if isinstance(v, bool) else quote_literal(str(v)) if isinstance(v, str) else int(v)}")
    sniffed = None
    for extra in ("", ", strict_mode=false"):
        try:
            rows = con.execute(
                f"SELECT * FROM sniff_csv({quote_literal(str(read_path))}, {', '.join(sniff_args)}{extra})"
            ).fetchall()
            sniffed = dict(zip([d[0] for d in con.description], rows[0]))
            break
        except duckdb.Error as e:
            sniff_error = e
    infer: set[str] = set()
    if sniffed is None:
        # DuckDB's sniffer gives up on some dirty files (e.g. many ragged rows): fall back to the
        # header and field count seen by Python's csv module, and infer types from a sample.
        first = _first_row(text, delim, quote, int(opts.get("skip", 0)))
        if len(first) < 1:
            for p in temp_files:
                p.unlink(missing_ok=True)
            raise DataError(
                f"Could not read the file as CSV: {_duckdb_message(sniff_error)}. Check the delimiter, "
                "quote and encoding in the load options and try again."
            ) from None
        looks_like_header = all(v.strip() and not re.fullmatch(r"[-+.,0-9 ]*", v) for v in first)
        sniffed = {
            "Columns": [{"name": v, "type": "VARCHAR"} for v in first],
            "HasHeader": looks_like_header, "SkipRows": 0, "Escape": None,
            "DateFormat": None, "TimestampFormat": None,
        }
        warnings.append(
            "The file's layout is irregular, so column types were inferred from the first rows; "
            "check them below."
        )
        infer = {"*"}
    sniff_cols = [(c["name"], c["type"]) for c in sniffed["Columns"]]
    header = bool(opts["header"]) if "header" in opts else bool(sniffed["HasHeader"])
    skip = int(opts.get("skip", sniffed["SkipRows"] or 0))
    escape = opts.get("escape")
    if escape is None:
        escape = "" if sniffed["Escape"] in ("(empty)", None) else sniffed["Escape"]
        if quote and not escape:
            escape = quote  # RFC 4180: a quote inside a quoted field is doubled
    # Column names: as written in the header (DuckDB renames duplicates its own way).
    if header:
        raw = _first_row(text, delim, quote, skip)
        if len(raw) != len(sniff_cols):
            raw = [n for n, _ in sniff_cols]
    else:
        raw = [f"column_{i}" for i in range(1, len(sniff_cols) + 1)]
    final, renames = unique_column_names(raw)
    if renames:
        listed = "; ".join(f"'{a}' -> '{b}'" for a, b in renames[:20])
        more = f" and {len(renames) - 20} more" if len(renames) > 20 else ""
        warnings.append(f"Blank or duplicate column names were made unique: {listed}{more}.")
    columns = {n: t for n, (_, t) in zip(final, sniff_cols)}
    overrides = {k: normalise_type(v) for k, v in (opts.get("types") or {}).items()}
    unknown = [k for k in overrides if k not in columns]
    if unknown:
        raise DataError(
            f"Type given for unknown column(s) {', '.join(map(repr, unknown))}. "
            f"The file's columns are: {', '.join(list(columns)[:30])}."
        )
    for n, t in columns.items():
        if t in ("HUGEINT", "UHUGEINT") and n not in overrides:
            # pandas and Excel would turn such ids into one rounded float: keep them exact as text
            columns[n] = "VARCHAR"
            warnings.append(
                f"Column '{n}' holds whole numbers wider than 64 bits (more than 18 digits); it "
                "is loaded as text so that every value stays exact (as numbers, pandas and Excel would "
                "round them and distinct ids could become one)."
            )
    columns.update(overrides)
    if infer:
        infer = set(columns) - set(overrides)

    plan = CsvPlan(
        source=src, path=read_path, encoding=encoding if encoding != "utf-8-sig" else "utf-8 (with BOM)",
        duckdb_encoding=native, compression=read_compression, delimiter=delim, quote=quote, escape=escape,
        header=header, skip=skip,
        dateformat=opts.get("dateformat") or sniffed["DateFormat"] or None,
        timestampformat=opts.get("timestampformat") or sniffed["TimestampFormat"] or None,
        decimal_separator=opts.get("decimal_separator") or ".",
        nullstr=list(opts.get("nullstr", NULL_STRINGS)), null_padding=bool(opts.get("null_padding", False)),
        columns=columns, renames=renames, warnings=warnings, temp_files=temp_files,
    )
    if "nullstr" not in opts:
        plan.sample_nulls = _markers_in(text, delim, plan.nullstr)
    plan.long_lines = long_lines
    if header:
        plan.header_names = list(raw)
        lines = text.split("\n")
        if len(lines) > skip:
            plan.header_line = lines[skip].rstrip("\r")
    plan.newlines_normalised = NEWLINES_NOTE in warnings
    _verify_types(con, plan, set(overrides), prefer_eu=(delim == ";" or plan.decimal_separator == ","),
                  infer=infer)
    return plan


def _markers_in(text: str, delim: str, markers: list[str]) -> list[str]:
    """The missing-value markers that occur as a whole (optionally quoted) field in the sample text."""
    head = text[:MARKER_SCAN]
    body = "\n" + head[: head.rfind("\n") + 1 or None].replace("\r\n", "\n") + "\n"
    ends = ("\n", delim)
    found = []
    for m in markers:
        if m and m in body and any(f"{a}{q}{m}{q}{b}" in body for q in ("", '"') for a in ends for b in ends):
            found.append(m)
    return found


def _misfit_counts(con: duckdb.DuckDBPyConnection, checks: dict[str, str]) -> dict[str, int]:
    """For each key, how many sample values are non-null but fail the conversion expression.

    checks maps a key to "col_sql|conversion_sql"; all checks run in a few wide queries (one per
    chunk of columns), so a file with thousands of columns still takes well under a second.
    """
    out: dict[str, int] = {}
    items = list(checks.items())
    for start in range(0, len(items), 250):
        chunk = items[start : start + 250]
        exprs = []
        for _, spec in chunk:
            col, conv = spec.split("|", 1)
            exprs.append(f"count(*) FILTER (WHERE {col} IS NOT NULL AND ({conv}) IS NULL)")
        row = con.execute(f"SELECT {', '.join(exprs)} FROM __mw_sample").fetchall()[0]
        out.update({key: int(v) for (key, _), v in zip(chunk, row)})
    return out


def _conversion_sql(plan: CsvPlan, col: str, typ: str) -> str:
    if typ == "DATE" and plan.dateformat:
        return f"try_strptime({col}, {quote_literal(plan.dateformat)})"
    if typ.startswith("TIMESTAMP") and plan.timestampformat:
        return f"try_strptime({col}, {quote_literal(plan.timestampformat)})"
    if plan.decimal_separator != "." and typ in ("DOUBLE", "FLOAT"):
        return f"TRY_CAST(replace({col}, {quote_literal(plan.decimal_separator)}, '.') AS {typ})"
    return _try_cast(col, typ)


_INTEGER_TYPES = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "UHUGEINT")


def _try_cast(col: str, typ: str) -> str:
    """TRY_CAST, except that text with a decimal point never becomes an integer (DuckDB rounds '29.85' to 30)."""
    if typ in _INTEGER_TYPES:
        return f"CASE WHEN regexp_matches(trim({col}), '^[+-]?[0-9]+$') THEN TRY_CAST(trim({col}) AS {typ}) END"
    return f"TRY_CAST({col} AS {typ})"


def blank_sql(col: str) -> str:
    """SQL that is true for a cell holding only spaces, tabs or line breaks (but not for NULL)."""
    return f"trim({col}, {quote_literal(WHITESPACE)}) = ''"


def filled_sql(col: str) -> str:
    """SQL that is true for a cell with something other than whitespace in it."""
    return f"nullif(trim({col}, {quote_literal(WHITESPACE)}), '') IS NOT NULL"


def _verify_types(con: duckdb.DuckDBPyConnection, plan: CsvPlan, fixed: set[str], prefer_eu: bool,
                  infer: Collection[str] = frozenset()) -> None:
    """Check sniffed types against a text sample; demote misfits to text and plan conversions.

    Lines equal to the header (concatenated exports) are left out of the sample and counted; blank
    and whitespace-only cells are missing values, never a reason to read a column as text.
    """
    # The sample lives in a temp table of this cursor: fast to query column by column, even when wide.
    try:
        con.execute("DROP TABLE IF EXISTS __mw_sample").fetchall()
        con.execute(
            f"CREATE TEMP TABLE __mw_sample AS SELECT * FROM "
            f"{plan.read_csv_sql(all_varchar=True, ignore_errors=True, big_lines=plan.long_lines)} LIMIT {SAMPLE_ROWS}"
        ).fetchall()
    except duckdb.Error as e:
        plan.cleanup()
        raise DataError(
            f"Could not read the file as CSV: {_duckdb_message(e)}. Check the delimiter, quote and "
            "encoding in the load options and try again."
        ) from None
    try:
        names = list(plan.columns)
        # The temp table has DuckDB's own names; map ours onto it by position.
        actual = [d[0] for d in con.execute("SELECT * FROM __mw_sample LIMIT 0").description]
        cols = {n: quote_ident(a) for n, a in zip(names, actual)}
        infer = set(infer)
        repeated = header_repeat_sql(plan, [cols[n] for n in names])
        if repeated and con.execute(  # one column first: cheap on files with thousands of columns
                f"SELECT count(*) FROM __mw_sample WHERE {repeated.split(' AND ')[0]}").fetchall()[0][0]:
            plan.header_repeats = con.execute(f"SELECT count(*) FROM __mw_sample WHERE {repeated}").fetchall()[0][0]
            if plan.header_repeats:
                con.execute(f"DELETE FROM __mw_sample WHERE {repeated}").fetchall()
                # the sniffer saw the header lines as data: every column looked like text
                infer |= {n for n in names if n not in fixed and plan.columns[n] == "VARCHAR"}
                plan.warnings.append(
                    f"{plural(plan.header_repeats, 'line')} in the first rows "
                    f"{'repeats' if plan.header_repeats == 1 else 'repeat'} the header (files joined "
                    f"together?): {HEADER_REPEAT_NOTE}."
                )
        preview = con.execute("SELECT * FROM __mw_sample LIMIT 20").df()
        preview.columns = list(plan.columns)
        plan.preview = preview
        if preview.empty and plan.header:
            plan.cleanup()
            raise DataError(
                "The file has column names but no data rows. Export the data again including the rows."
            )
        # blank cells per column, in one pass (a wide SELECT of thousands of FILTER aggregates binds slowly);
        # then they are missing values in the sample, so that the type checks below see only real values
        found = dict(con.execute(
            "SELECT name, count(*) FROM (UNPIVOT __mw_sample ON COLUMNS(*) INTO NAME name VALUE v) "
            f"WHERE {blank_sql('v')} GROUP BY name"
        ).fetchall())
        blanks = {n: int(found.get(a, 0)) for n, a in zip(names, actual)}
        for n in names:
            if blanks[n]:
                con.execute(f"UPDATE __mw_sample SET {cols[n]} = NULL WHERE {blank_sql(cols[n])}").fetchall()
        # a text column whose only non-numbers are blank cells is a number column with missing values
        infer |= {n for n in names if n not in fixed and plan.columns[n] == "VARCHAR" and blanks[n]}
        if infer:
            infer_list = [n for n in names if n in infer]
            order = ("BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "BOOLEAN")
            checks = {f"{n}\x00{t}": f"{cols[n]}|{_try_cast(cols[n], t)}" for n in infer_list for t in order}
            bad = _misfit_counts(con, checks)
            nonnull = con.execute(
                "SELECT " + ", ".join(f"count({cols[n]})" for n in infer_list) + " FROM __mw_sample"
            ).fetchall()[0]
            for n, filled in zip(infer_list, nonnull):
                fits = [t for t in order if filled and bad[f"{n}\x00{t}"] == 0]
                plan.columns[n] = fits[0] if fits else "VARCHAR"
        typed = {n: t for n, t in plan.columns.items() if n not in fixed and t != "VARCHAR"}
        bad = _misfit_counts(con, {n: f"{cols[n]}|{_conversion_sql(plan, cols[n], t)}" for n, t in typed.items()})
        for n, misfits in bad.items():
            if misfits:
                plan.columns[n] = "VARCHAR"
        for n, t in list(plan.columns.items()):
            if t != "VARCHAR" and blanks.get(n):
                # DuckDB's reader rejects a row whose number cell holds a space: read the column as
                # text and convert it with blank cells as missing values
                col = quote_ident(n)
                plan.conversions[n] = Conversion(
                    "blank", t, _conversion_sql(plan, f"nullif(trim({col}, {quote_literal(WHITESPACE)}), '')", t),
                    "blank cells as missing values")
                plan.columns[n] = "VARCHAR"
        text_cols = [n for n, t in plan.columns.items()
                     if n not in fixed and t == "VARCHAR" and n not in plan.conversions]
        for start in range(0, len(text_cols), 200):
            chunk = text_cols[start : start + 200]
            rows = con.execute(
                "SELECT " + ", ".join(f"list(DISTINCT {cols[n]})[1:5000]" for n in chunk) + " FROM __mw_sample"
            ).fetchall()[0]
            for n, values in zip(chunk, rows):
                conversion = _text_conversion(n, [v for v in (values or []) if v is not None], prefer_eu)
                if conversion is not None:
                    plan.conversions[n] = conversion
    finally:
        con.execute("DROP TABLE IF EXISTS __mw_sample").fetchall()


def header_repeat_sql(plan: CsvPlan, cols: list[str]) -> str | None:
    """SQL true for a row (read as text) equal to the header line, or None without a header."""
    if not plan.header or not plan.header_names or len(plan.header_names) != len(cols):
        return None
    return " AND ".join(f"coalesce({c}, '') = {quote_literal(h)}" for c, h in zip(cols, plan.header_names))


def _normalise_options(options: dict[str, Any]) -> dict[str, Any]:
    aliases = {"delim": "delimiter", "sep": "delimiter", "separator": "delimiter",
               "column_types": "types", "dtype": "types", "dtypes": "types",
               "date_format": "dateformat", "timestamp_format": "timestampformat",
               "decimal": "decimal_separator", "skip_rows": "skip", "na_values": "nullstr"}
    known = {"delimiter", "quote", "escape", "header", "encoding", "skip", "dateformat",
             "timestampformat", "decimal_separator", "nullstr", "null_padding", "types"}
    out: dict[str, Any] = {}
    for key, value in options.items():
        k = aliases.get(key, key)
        if k not in known:
            raise DataError(
                f"Unknown CSV option '{key}'. Known options: {', '.join(sorted(known))}."
            )
        if value is None:
            continue
        out[k] = value
    d = out.get("delimiter")
    if d is not None:
        d = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(d, d)
        if len(d) != 1 or d in "\r\n":
            raise DataError(f"The delimiter must be one character (got {d!r}); for tab use '\\t'.")
        out["delimiter"] = d
    if "nullstr" in out and isinstance(out["nullstr"], str):
        out["nullstr"] = [out["nullstr"]]
    if "decimal_separator" in out and out["decimal_separator"] not in (".", ","):
        raise DataError("The decimal separator must be '.' or ','.")
    if "header" in out:
        out["header"] = bool(out["header"])
    return out
