"""An organization's profile: what it is called, its base currency and its fiscal year."""

from __future__ import annotations

from dataclasses import dataclass

from accounting_api.domain.two_factor import Requirement


@dataclass(frozen=True, slots=True)
class Profile:
    id: str
    name: str
    base_currency: str
    fiscal_year_end_month: int
    """The last month of its fiscal year, 1-12 (domain/fiscal.py)."""
    two_factor_required_for: Requirement = Requirement.NONE
    """Who must sign in with a second factor (docs/two-factor.md)."""
