"""Transactional sends: repeatable sends of an email flagged transactional, to a subscriber or to
any address, with per-send data, extra headers and attachments, on the priority lane."""
