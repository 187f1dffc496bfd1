"""REST API for integrators: per-sender keys, subscribers, emails, sends, statistics."""
