"""ESP event intake: bounces and complaints that a relay provider posts as signed HTTP callbacks
(Amazon SES through SNS, SendGrid, Postmark, Mailgun). ``verify`` checks who sent a callback,
``events`` reads each provider's documented format, ``app`` is the web endpoint that stores
the events raw, and inbound.parse applies them (``apply``) through the one response policy."""

PROVIDERS = ("ses", "sendgrid", "postmark", "mailgun")
