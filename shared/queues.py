"""Queue names, one per kind of work, so each can be scaled on its own depth.

Kept apart from ``shared.broker`` so a launcher can name queues without configuring a broker.
"""

CAMPAIGN_QUEUE = "campaign"  # campaign.dispatch, campaign.decide_winner
SEND_QUEUE = "send"  # send.batch
INBOUND_QUEUE = "inbound"  # inbound.parse
EVENTS_QUEUE = "events"  # buffered opens and clicks from the public service
WEBHOOK_QUEUE = "webhooks"  # webhook.deliver
