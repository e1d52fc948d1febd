"""Tax rates: percent with up to four decimals, held as integer parts per million.

A rate is an integer number of parts per million of a line's amount after discount:
8.875 % (New York City) is 88750, 8.25 % is 82500, 100 % is 1000000, so a rate with up
to four decimals of a percent is exact and no float is ever involved. Whole basis points
(`tax_rate_bps`, 825 for 8.25 %) are the superseded unit: a rate in basis points is the
same rate in ppm times 100, hence the same tax to the cent.
"""

from __future__ import annotations

import re

SCALE = 1_000_000
"""Parts per million: 1000000 is 100 %, 88750 is 8.875 %."""
BASIS_POINTS = 10_000
"""100 % in basis points (the superseded unit of `tax_rate_bps`)."""
PER_BASIS_POINT = SCALE // BASIS_POINTS
PER_PERCENT = SCALE // 100
DECIMALS = 4
"""Decimals of a percent a rate may have: 1 ppm is 0.0001 %."""

_TEXT = re.compile(r"^(\d{1,3})(?:\.(\d{1,4}))?$")


def parse(value: int | str) -> int:
    """A tax rate in percent (an integer, or a decimal string with up to 4 decimals such
    as '8.875') in parts per million; raises ValueError with a message fit for a client."""
    if isinstance(value, int):
        if not 0 <= value <= 100:
            raise ValueError("must be between 0 and 100 (percent)")
        return value * PER_PERCENT
    match = _TEXT.match(value)
    if match is None:
        raise ValueError("must be a percentage with at most 4 decimals, e.g. '8.875'")
    ppm = int(match[1]) * PER_PERCENT + int((match[2] or "").ljust(DECIMALS, "0"))
    if ppm > SCALE:
        raise ValueError("must be between 0 and 100 (percent)")
    return ppm


def format_percent(ppm: int) -> str:
    """Parts per million back to the shortest percent text: 88750 -> '8.875', 0 -> '0'."""
    whole, fraction = divmod(ppm, PER_PERCENT)
    return f"{whole}.{fraction:0{DECIMALS}d}".rstrip("0").rstrip(".")


def basis_points(ppm: int) -> int | None:
    """The rate in whole basis points, or None when it has no such form (8.875 %)."""
    whole, rest = divmod(ppm, PER_BASIS_POINT)
    return None if rest else whole
