"""The tart-mailer services: api, public, admin, sender and receiver."""
