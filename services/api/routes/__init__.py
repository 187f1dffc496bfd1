"""One router per domain under /v1."""
