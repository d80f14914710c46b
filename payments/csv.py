"""CSV files for finance (bank payout batches, ledger exports), safe to open in Excel/WPS.

A cell whose text begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
read by spreadsheet programs as a formula (CSV injection, OWASP): such cells get a
leading apostrophe, which spreadsheets show as text. Files are UTF-8 with a byte-order
mark so Excel in a Chinese locale opens them as UTF-8 rather than GBK.
"""

from __future__ import annotations

import csv as _csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def safe_cell(value: Any) -> str:
    """The text of a cell, with a leading ' when a spreadsheet would take it as a formula.

    Numbers (int, float, Decimal) are written as they are: a negative amount stays a number.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) or type(value).__name__ == "Decimal":
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def write_csv(rows: Iterable[Sequence[Any]], header: Sequence[Any]) -> bytes:
    """A CSV file (UTF-8 with BOM, CRLF line ends) with every cell escaped by `safe_cell`."""
    buffer = io.StringIO()
    writer = _csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return (BOM + buffer.getvalue()).encode("utf-8")
