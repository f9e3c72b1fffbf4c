"""How every percentage is written, on the page, the slides, the downloads and the statistics: one rule.

A share k / n becomes a whole percentage rounded half up on the exact fraction (integer arithmetic: float
formatting rounds half to even, and binary fractions either way, which once made two cells of one row say 94% and
93% for the same share), and never 100% or 0% unless it is exactly that (99 of 100 completions is not "all").

>>> percent_value(1, 8), percent_value(3, 8), percent_value(199, 200), percent_value(1, 200)
(13, 38, 99, 1)
>>> percent(5, 8), percent(0, 0)
('63%', '')
"""

from __future__ import annotations

from fractions import Fraction


def percent_value(k: int, n: int) -> int:
    """k / n as a whole percentage by the rule above; ``n`` must be positive."""
    if n <= 0:
        raise ValueError("n must be positive")
    value = int(Fraction(100 * k, n) + Fraction(1, 2))
    if value == 100 and k < n:
        return 99
    if value == 0 and k > 0:
        return 1
    return value


def percent(k: int, n: int) -> str:
    """:func:`percent_value` as text, '' when there is no whole (nothing to take a share of)."""
    return "" if n <= 0 else f"{percent_value(k, n)}%"
