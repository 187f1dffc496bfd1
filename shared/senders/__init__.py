"""Senders: the From addresses that own subscribers, emails and API keys."""
