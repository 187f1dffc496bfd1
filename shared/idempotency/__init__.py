"""Idempotency keys: a retried POST gets the first answer and queues nothing new."""
