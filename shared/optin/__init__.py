"""Joining a list: subscribe from a form or the API, double opt-in confirmation, the welcome
email, form throttling and the purge of pending subscribers who never confirmed."""
