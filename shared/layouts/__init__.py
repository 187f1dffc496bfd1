"""Layouts: a sender's reusable frames (HTML and plain) around an email's body."""
