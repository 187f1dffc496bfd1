"""Send rows on the worker's hot path: claim with a lease, record outcomes in one statement,
bounces from SMTP replies, rate counters, and the sweeper's repairs."""
