"""Privacy: GDPR erasure (the address left nowhere), export (everything about one subscriber)
and retention (old events, raw inbound mail and webhook logs purged in batches)."""
