"""Use cases: one function, one database transaction, the tenant set inside it."""
