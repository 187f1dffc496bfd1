"""Web UI for administrators."""
