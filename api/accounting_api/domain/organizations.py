"""An organization's profile: what it is called, its base currency and its fiscal year."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Profile:
    id: str
    name: str
    base_currency: str
    fiscal_year_end_month: int
    """The last month of its fiscal year, 1-12 (domain/fiscal.py)."""
