"""Reading the CSV files people export from spreadsheets and CRMs.

What arrives in practice: a UTF-8 byte-order mark (Excel), UTF-16 (Excel's "Unicode
text"), Windows-1252, commas or semicolons (European Excel) or tabs, quoted fields with
delimiters and line breaks inside, a header row or none, blank lines. ``read_rows`` turns
that into (row number, cells) with the header's names, and leaves judging the values to
the caller, which reports per row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from nova.core.errors import BadRequest

DELIMITERS = (",", ";", "\t", "|")


def decode(data: bytes) -> str:
    """Text of an uploaded CSV: UTF-8 (with or without BOM), UTF-16 with BOM, else
    Windows-1252 (what Excel writes by default on Windows)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise BadRequest("The CSV is not valid UTF-16 text") from None
    if b"\x00" in data:
        raise BadRequest(
            "The CSV contains NUL bytes (UTF-16 without a byte-order mark, or not text): "
            "save it as UTF-8 CSV"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def sniff_delimiter(first_line: str) -> str:
    """The delimiter of a file, judged on its first line outside quotes (the header, or
    the first record). A file with a single column has none: ','."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in first_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _norm(name: str) -> str:
    return "".join(ch for ch in name.strip().lower() if ch.isalnum())


@dataclass(frozen=True)
class Table:
    header: list[str] | None  # normalised column names, None when the file has no header
    rows: Iterator[tuple[int, list[str]]]  # (1-based record number in the file, cells)

    def column(self, *names: str) -> int | None:
        if self.header is None:
            return None
        wanted = {_norm(n) for n in names}
        for i, name in enumerate(self.header):
            if name in wanted:
                return i
        return None


def read_table(text: str, *, header_names: tuple[str, ...], max_rows: int) -> Table:
    """Parse ``text``. The first record is a header when one of its cells is one of
    ``header_names`` (compared case- and punctuation-insensitively: "Phone Number" =
    "phone_number"). Raises 400 beyond ``max_rows`` data rows or on broken quoting."""
    first_line = text.split("\n", 1)[0]
    # strict: an unterminated quote is an error, not a field that silently swallows every
    # row after it.
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=sniff_delimiter(first_line), strict=True
    )
    records: list[tuple[int, list[str]]] = []
    try:
        for number, cells in enumerate(reader, start=1):
            if not any(c.strip() for c in cells):
                continue  # blank line
            records.append((number, cells))
            if len(records) > max_rows + 1:
                raise BadRequest(f"Too many rows: at most {max_rows} per file")
    except csv.Error as exc:
        raise BadRequest(f"The CSV cannot be read near record {reader.line_num}: {exc}") from None
    header = None
    wanted = {_norm(n) for n in header_names}
    if records and any(_norm(c) in wanted for c in records[0][1]):
        header = [_norm(c) for c in records[0][1]]
        records = records[1:]
    if len(records) > max_rows:
        raise BadRequest(f"Too many rows: at most {max_rows} per file")
    return Table(header, iter(records))
