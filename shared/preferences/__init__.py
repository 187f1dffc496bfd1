"""The preference center: what a subscriber reached through a message's ``{{ preferences_url }}``
may see and change (locale, topics, unsubscribe from everything, resubscribe)."""
