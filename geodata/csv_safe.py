"""CSV cells that a spreadsheet would run as a formula are written escaped (OWASP, "CSV injection").

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with a single quote, which
spreadsheets show as text. Numbers are left alone (a negative number is data, not a formula); only text is escaped.

>>> escape_cell("=HYPERLINK(\\"http://x\\")")
'\\'=HYPERLINK("http://x")'
>>> escape_cell("-3.2"), escape_cell(-3.2), escape_cell("NHS Bury CCG")
("'-3.2", -3.2, 'NHS Bury CCG')
"""

from __future__ import annotations

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell escaped; numeric columns untouched."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(escape_cell)
    return out
