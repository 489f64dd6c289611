"""The service's health, readiness and metrics, for operators (docs/operations.md)."""
