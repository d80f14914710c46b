"""payments.csv: formula cells escaped, UTF-8 with BOM for Excel."""

import csv
import io
from decimal import Decimal

import pytest

from payments.csv import safe_cell, write_csv


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x","y")'])
def test_cells_a_spreadsheet_would_run_as_formulas_get_a_leading_apostrophe(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value,expected", [
    ("扬州测试公司", "扬州测试公司"), ("a=b", "a=b"), ("", ""), (None, ""), (12, "12"), (-5, "-5"),
    (Decimal("-1.50"), "-1.50"), (True, "true"),
])
def test_plain_text_and_numbers_are_left_as_they_are(value, expected):
    assert safe_cell(value) == expected


def test_write_csv_is_utf8_with_bom_and_escapes_every_cell_including_the_header():
    data = write_csv([["=cmd|' /C calc'!A0", "中文", 3]], ["-header", "name"])
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [["'-header", "name"], ["'=cmd|' /C calc'!A0", "中文", "3"]]
