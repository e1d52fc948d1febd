"""Universal Accounting API: a multi-tenant double-entry ledger over PostgreSQL."""

__version__ = "0.1.0"
