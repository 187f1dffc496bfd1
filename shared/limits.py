"""Limits on what a client may ask for, defined once: the API's schemas and the admin's forms
both read them, so a value one refuses the other refuses too (tests/admin/test_limits.py)."""

from __future__ import annotations

# Every id is a PostgreSQL bigint: a larger one in a path or a form names nothing.
MAX_ID = 2**63 - 1

# A/B winner mode: the share of the audience the test goes to (a fraction, both ends included;
# campaigns.ab_test_share keeps three decimals), and how long to wait before picking the winner.
AB_SHARE_MIN = 0.01
AB_SHARE_MAX = 0.99
AB_WAIT_MINUTES_MIN = 1
AB_WAIT_MINUTES_MAX = 60 * 24 * 14

# The most recipients one bulk send may be capped at (campaigns.max_count).
MAX_COUNT_MAX = 100_000_000

# A variation's share of the sends, relative to the other variations' weights.
WEIGHT_MIN, WEIGHT_MAX = 1, 1000

# An API key's requests a minute: what a new key gets unless it is given its own.
API_KEY_RATE_MIN, API_KEY_RATE_MAX, API_KEY_RATE_DEFAULT = 1, 1_000_000, 600

# Soft bounces in the sender's window that stop a subscriber.
SOFT_BOUNCE_LIMIT_MIN, SOFT_BOUNCE_LIMIT_MAX = 1, 1000


def valid_id(value: int) -> bool:
    """Whether ``value`` can be the id of a row (1 to MAX_ID)."""
    return 0 < value <= MAX_ID


# Subscription forms: what a form's settings may hold (API schemas, admin pages and the rules in
# shared/forms/service.py read these), and one text answer of a submission (public service).
FORM_NAME_MAX = 200
FORM_FIELDS_MAX = 20
FORM_TOPICS_MAX = 50  # also the most topics a sender declares
FORM_ORIGINS_MAX = 20
FORM_THANK_YOU_MAX = 5000
FORM_URL_MAX = 2000
FORM_LABEL_MAX = 200
FORM_ANSWER_MAX = 200
