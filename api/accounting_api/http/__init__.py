"""The HTTP seam: problem+json errors, middleware (request context, auth, limits, idempotency)."""
