"""Outgoing webhooks: per-sender event deliveries, signed, logged and retried through the queue."""
