"""Admin users of the web UI: owners and members."""
