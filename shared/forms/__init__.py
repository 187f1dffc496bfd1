"""Subscription forms: what a sender's hosted, embedded or JSON form asks for and what it does."""
