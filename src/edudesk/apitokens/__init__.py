"""Per-org API tokens for the REST API under /api/v1 and the dependency that checks them."""
