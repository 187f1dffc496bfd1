"""Saved segments: named filters of a sender (issue 17)."""
