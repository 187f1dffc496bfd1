"""SMTP sending: campaign dispatch and send.batch workers, DKIM, VERP, rate limits."""
