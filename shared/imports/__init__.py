"""CSV imports of subscribers: streamed, COPY-based, with progress and a per-row error report."""
