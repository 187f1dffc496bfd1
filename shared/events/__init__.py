"""Subscriber events on sends: opens, views, clicks (batched) and unsubscribes (durable)."""
