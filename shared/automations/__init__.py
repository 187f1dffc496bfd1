"""Automations: per-sender sequences of wait / send / condition steps (issue 17)."""
