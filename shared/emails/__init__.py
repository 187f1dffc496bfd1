"""Emails and their variations (A/B): storage for the API and the admin."""
