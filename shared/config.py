"""Settings for every service, read from ``TART_*`` environment variables.

Defaults are safe for a developer's machine. Outside ``dev`` and ``test`` a placeholder secret is
refused, so a forgotten variable cannot ship a guessable signing key.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import (
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.senders.relays import relay_names

PLACEHOLDER_PREFIX = "dev-insecure-"
DEV_ENVIRONMENTS = ("dev", "test")
# Settings that were replaced: a deployment still setting one is told what to set instead.
RETIRED_SETTINGS = {
    "TART_SEND_MAX_ATTEMPTS": "TART_SEND_RETRY_LIFETIME_SECONDS",
    "TART_SEND_RETRY_BASE_SECONDS": "TART_SEND_RETRY_MIN_SECONDS",
}


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Every ``TART_*`` setting. The README's table is generated from these fields."""

    model_config = SettingsConfigDict(env_prefix="TART_", extra="ignore", frozen=True)

    env: Literal["dev", "test", "prod"] = Field("dev", description="dev, test or prod.")
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/tart", description="PostgreSQL DSN (libpq form)."
    )
    amqp_url: str = Field(
        "amqp://guest:guest@127.0.0.1:5672/%2F", description="RabbitMQ URL, vhost included."
    )
    token_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=lambda: [SecretStr(PLACEHOLDER_PREFIX + "token-secret")],
        description="Comma-separated HMAC secrets for send tokens. The first signs; all verify.",
    )
    session_secret: SecretStr = Field(
        SecretStr(PLACEHOLDER_PREFIX + "session-secret"),
        description="Signs admin session and CSRF cookies.",
    )
    erasure_key: SecretStr = Field(
        SecretStr(PLACEHOLDER_PREFIX + "erasure-key"),
        description="Keys the hash kept of an erased subscriber's address (proof of consent, "
        "warning when it comes back). Never rotate it: old hashes would stop matching.",
    )
    db_pool_min: int = Field(1, ge=1, description="Smallest PostgreSQL pool per process.")
    db_pool_max: int = Field(10, ge=1, description="Largest PostgreSQL pool per process.")
    smtp_relays: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["smtp://127.0.0.1:1025"],
        description="Comma-separated relay URLs: smtp://, smtps:// (TLS) or smtp+starttls://, "
        "with optional user:password@ and #name (a sender can be pinned to a relay by its name; "
        "default host:port). Messages go to each relay in turn, skipping one that is down.",
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8001", description="Default public base URL for new senders' links."
    )
    api_port: int = Field(8000, description="Port of the REST API.")
    public_port: int = Field(8001, description="Port of the public link service.")
    admin_port: int = Field(8002, description="Port of the admin UI.")
    bind_host: str = Field("127.0.0.1", description="Address the web services listen on.")
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated addresses or CIDR ranges of the reverse proxies (ingress) "
        "whose X-Forwarded-For names the client: login throttling and recorded events use that "
        "address. Empty: no proxy is trusted and the connecting address is the client's.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Lowest log level written."
    )
    log_format: Literal["json", "console"] = Field(
        "json", description="json lines, or console for humans."
    )
    worker_processes: int = Field(1, ge=1, description="dramatiq processes per worker command.")
    worker_threads: int = Field(8, ge=1, description="dramatiq threads per worker process.")
    priority_threads: int = Field(
        8,
        ge=1,
        le=64,
        description="Threads of each sender worker process that take only transactional sends "
        "(queue send_priority), so a campaign holding every other thread cannot delay them. A "
        "thread holds a send until the relay's reply is recorded (0.1-0.3 s): 8 per process "
        "carry about 50 sends a second.",
    )
    worker_shutdown_seconds: int = Field(
        30,
        ge=1,
        description="On SIGTERM, how long a dramatiq worker lets in-flight messages finish before "
        "it closes its connection, which hands unfinished ones back to RabbitMQ. Keep it below the "
        "orchestrator's grace period (Kubernetes terminationGracePeriodSeconds, compose "
        "stop_grace_period).",
    )
    sender_metrics_port: int = Field(9101, description="/metrics of the sender worker.")
    receiver_metrics_port: int = Field(9102, description="/metrics of the receiver parser worker.")
    scheduler_metrics_port: int = Field(9103, description="/metrics of the campaign scheduler.")
    poller_metrics_port: int = Field(9104, description="/metrics of the IMAP poller.")
    events_metrics_port: int = Field(9105, description="/metrics of the public events worker.")
    webhooks_metrics_port: int = Field(9106, description="/metrics of the webhook worker.")
    imap_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated mailboxes to poll: imap://, imaps:// or imap+starttls://"
        "user:password@host:port/MAILBOX.",
    )
    max_inbound_bytes: int = Field(25 * 1024 * 1024, description="Largest inbound message kept.")
    campaign_guard_interval_seconds: float = Field(
        10,
        ge=0,
        description="How often, at most, the bounce and complaint guard recounts a running "
        "campaign's rates while responses arrive (per campaign).",
    )
    esp_port: int = Field(
        8003, description="Port of the ESP event intake (receiver web: SES/SNS, SendGrid, ...)."
    )
    esp_max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest ESP callback body accepted (413 above it)."
    )
    esp_sns_ca_file: str | None = Field(
        None,
        description="PEM file of the CAs an SNS signing certificate must chain to (checked with "
        "the intermediates in the fetched PEM). Unset: the certificate is trusted as fetched over "
        "verified TLS from an SNS host.",
    )
    esp_max_age_seconds: float = Field(
        900,
        gt=0,
        description="A signed ESP callback (SNS, SendGrid, Mailgun) older than this is refused "
        "as a replay (409).",
    )
    inbound_max_attempts: int = Field(
        5, ge=1, description="Parse attempts of an inbound message before it is quarantined."
    )
    imap_processed: Literal["flag", "move", "delete"] = Field(
        "flag",
        description="What the poller does to a stored message: flag (\\Seen plus the "
        "$TartProcessed keyword), move (to TART_IMAP_PROCESSED_FOLDER) or delete.",
    )
    imap_processed_folder: str = Field(
        "Processed", description="Folder processed messages are moved to (imap_processed=move)."
    )
    imap_poll_seconds: float = Field(
        30.0, gt=0, description="Poll interval, and the IDLE wait before re-checking a mailbox."
    )
    send_batch_size: int = Field(
        250, ge=1, le=5000, description="Send rows per send.batch message (and per SMTP burst)."
    )
    send_lease_seconds: float = Field(
        300, gt=0, description="How long a worker owns claimed rows before others reclaim them."
    )
    send_retry_min_seconds: float = Field(
        300,
        gt=0,
        description="Wait after a send's first temporary failure (4xx, greylisting, a relay away); "
        "it doubles with each try up to TART_SEND_RETRY_MAX_SECONDS (Postfix's "
        "minimal_backoff_time).",
    )
    send_retry_max_seconds: float = Field(
        4000,
        gt=0,
        description="Longest wait between two tries of a send (Postfix's maximal_backoff_time).",
    )
    send_retry_lifetime_seconds: float = Field(
        5 * 24 * 3600,
        gt=0,
        description="How long after its first try a send with temporary failures is tried "
        "again before it fails (5 days, Postfix's maximal_queue_lifetime); the last try falls at "
        "the end.",
    )
    transactional_data_max_bytes: int = Field(
        32 * 1024,
        ge=256,
        description="Largest per-send data object of a transactional send, as compact JSON.",
    )
    transactional_attachments_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest total size of a transactional send's attachments, decoded.",
    )
    transactional_stale_seconds: float = Field(
        10,
        gt=0,
        description="Queued transactional sends untouched this long are queued again by the "
        "scheduler's sweep (a message lost in a broker blip); bulk rows wait 5 minutes.",
    )
    dispatch_chunk_size: int = Field(
        50_000, ge=100, description="Send rows created per campaign.dispatch transaction."
    )
    smtp_pool_size: int = Field(
        8, ge=1, description="Reused SMTP connections per relay per worker process."
    )
    smtp_timeout_seconds: float = Field(
        30,
        gt=0,
        description="Timeout of each wait for relay replies (to a command or a pipelined group).",
    )
    smtp_relay_cooldown_seconds: float = Field(
        60,
        gt=0,
        description="How long a relay that refused a connection (or timed out connecting) is "
        "skipped: the messages of senders not pinned to it go to the next relay. A pinned "
        "sender's messages wait for it (retried as temporary failures).",
    )
    tls_ca_file: str = Field(
        "",
        description="PEM CA bundle that verifies IMAP and SMTP servers, replacing the system"
        " trust store (for a private CA). Empty: the system trust store.",
    )
    tls_verify: bool = Field(
        True,
        description="Verify IMAP and SMTP server certificates and host names. false is for dev"
        " only (refused outside dev and test).",
    )
    api_max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest JSON request body the API accepts (413)."
    )
    api_max_import_bytes: int = Field(
        1024 * 1024 * 1024, ge=1024, description="Largest CSV import body the API accepts (413)."
    )
    webhook_timeout_s: float = Field(10.0, gt=0, description="Timeout of one webhook POST.")
    webhook_max_attempts: int = Field(
        8, ge=1, description="Webhook POST attempts before a delivery is marked failed."
    )
    webhook_backoff_min_s: float = Field(
        5.0, gt=0, description="Delay before the first webhook retry; doubles each attempt."
    )
    webhook_backoff_max_s: float = Field(
        3600.0, gt=0, description="Longest delay between two webhook retries."
    )
    # api: rate limiting, webhook target guard and the maintenance loop
    api_rate_chunk_share: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Share of a key's per-minute limit an API process leases from the shared "
        "counter at once (never exceeds the limit; may refuse up to (processes - 1) x share x "
        "limit requests early).",
    )
    webhook_allow_private: bool | None = Field(
        None,
        description="Allow webhook URLs that resolve to private, loopback or link-local "
        "addresses. Unset: allowed when TART_ENV is dev or test, refused in prod.",
    )
    api_maintenance_interval_s: float = Field(
        60.0, gt=0, description="Period of the api maintenance loop (purges, webhook sweeper)."
    )
    idempotency_ttl_hours: int = Field(
        24, ge=1, description="How long an Idempotency-Key and its stored answer are kept."
    )
    webhook_sweep_grace_s: float = Field(
        300.0,
        gt=0,
        description="A pending webhook delivery this long past its retry time is queued again.",
    )
    api_maintenance_metrics_port: int = Field(
        9107, description="/metrics of the api maintenance loop."
    )
    public_workers: int = Field(
        2, ge=1, description="uvicorn worker processes of the public link service."
    )
    public_link_cache_size: int = Field(
        50_000, ge=0, description="Sends whose click links each public process keeps (LRU)."
    )
    public_db_wait_seconds: float = Field(
        2.0,
        gt=0,
        description="How long a public page or uncached click waits for a PostgreSQL connection "
        "before answering 503 (service unavailable).",
    )
    public_flush_interval_ms: int = Field(
        100, ge=5, description="How often the public service flushes buffered opens and clicks."
    )
    public_flush_max_events: int = Field(
        1000, ge=1, description="Most events per events.record message (a full buffer flushes)."
    )
    public_buffer_max_events: int = Field(
        200_000,
        ge=1,
        description="Events a public process holds while RabbitMQ is unreachable; beyond it the "
        "oldest are dropped (and counted in tart_public_events_dropped_total).",
    )
    scanner_click_seconds: float = Field(
        10.0, ge=0, description="A click this soon after sent_at is flagged as a link scanner."
    )
    retention_inbound_days: int = Field(
        0,
        ge=0,
        description="Raw inbound mail tied to no sender (DMARC and TLS reports, unknown mail) "
        "is emptied after this many days; 0 keeps it. Per-sender limits are sender settings.",
    )
    preferences_link_days: int = Field(
        180,
        ge=1,
        le=3650,
        description="A message's preference-center link ({{ preferences_url }}) works for this "
        "many days after the message was sent (its unsubscribe link never expires).",
    )

    admin_cookie_secure: bool | None = Field(
        None,
        description="Mark admin cookies Secure (HTTPS only). Unset: on, except when TART_ENV is "
        "dev or test (plain http://127.0.0.1).",
    )
    admin_session_hours: int = Field(
        12, ge=1, description="An admin session ends after this many idle hours."
    )
    admin_login_window_s: int = Field(
        900, ge=1, description="Window in which failed admin logins are counted."
    )
    admin_login_max_failures: int = Field(
        5, ge=1, description="Failed logins per address in the window before logins are refused."
    )
    admin_login_max_failures_ip: int = Field(
        30, ge=1, description="Failed logins per client IP in the window before it is refused."
    )
    admin_password_login: bool = Field(
        True,
        description="Let admins log in with a password. Turn it off once single sign-on "
        "(TART_OIDC_ISSUER) works: the login form then offers SSO only, and a posted password "
        "is refused.",
    )
    oidc_issuer: str | None = Field(
        None,
        description="OpenID Connect issuer for admin single sign-on (its discovery document is "
        "<issuer>/.well-known/openid-configuration). Unset: no SSO.",
    )
    oidc_client_id: str | None = Field(None, description="The admin's OIDC client id.")
    oidc_client_secret: SecretStr | None = Field(
        None, description="The admin's OIDC client secret (none for a public client: PKCE only)."
    )
    oidc_scopes: str = Field("openid email profile", description="Scopes asked at SSO login.")
    oidc_allowed_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated email domains whose verified users may log in through SSO, "
        "as members (unless a group makes them owners).",
    )
    oidc_groups_claim: str = Field("groups", description="The ID token claim listing groups.")
    oidc_owner_groups: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated groups whose users are owners."
    )
    oidc_member_groups: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated groups whose users are members."
    )
    admin_api_docs_url: str = Field(
        "", description="Link to the API's docs in the admin menu. Empty: the local API's /docs."
    )

    # subscription forms and double opt-in (issue 15)
    optin_token_hours: int = Field(
        72, ge=1, le=24 * 60, description="How long a double opt-in confirmation link works."
    )
    optin_purge_days: int = Field(
        7,
        ge=1,
        description="Pending subscribers who have not confirmed within this many days are "
        "deleted by the scheduler.",
    )
    optin_resend_minutes: int = Field(
        10,
        ge=1,
        description="A form submitted again for a pending address resends the confirmation at "
        "most once in this many minutes.",
    )
    form_min_submit_seconds: float = Field(
        3.0, ge=0, description="A form submitted sooner than this after it was served is refused."
    )
    form_max_age_hours: int = Field(
        24, ge=1, description="A served form can be submitted for this many hours."
    )
    form_max_per_ip_hour: int = Field(
        30, ge=1, description="Form submissions a client IP may make in an hour (all forms)."
    )
    form_max_per_address_hour: int = Field(
        5, ge=1, description="Form submissions for one address in an hour (per sender)."
    )
    form_max_body_bytes: int = Field(
        16 * 1024, ge=1024, description="Largest form submission body the public service reads."
    )

    @field_validator(
        "token_secrets", "smtp_relays", "imap_urls", "trusted_proxies", "oidc_allowed_domains",
        "oidc_owner_groups", "oidc_member_groups", mode="before",
    )  # fmt: skip
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("smtp_relays")
    @classmethod
    def _relays_parse_with_distinct_names(cls, value: list[str]) -> list[str]:
        names = relay_names(value)  # ValueError naming the URL that does not parse
        if len(set(names)) != len(names):
            raise ValueError(f"two relays have the same name ({', '.join(names)}): add #name")
        return value

    @field_validator("token_secrets")
    @classmethod
    def _at_least_one_secret(cls, value: list[SecretStr]) -> list[SecretStr]:
        if not value:
            raise ValueError("at least one secret is required")
        if any(len(secret.get_secret_value()) < 16 for secret in value):
            raise ValueError("each secret must be at least 16 characters")
        return value

    @field_validator("erasure_key")
    @classmethod
    def _long_erasure_key(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @model_validator(mode="after")
    def _refuse_placeholders_outside_dev(self) -> Settings:
        if self.env in DEV_ENVIRONMENTS:
            return self
        secrets = {
            "token_secrets": self.token_secrets,
            "session_secret": [self.session_secret],
            "erasure_key": [self.erasure_key],
        }
        for name, values in secrets.items():
            if any(v.get_secret_value().startswith(PLACEHOLDER_PREFIX) for v in values):
                raise ValueError(
                    f"TART_{name.upper()} holds the development placeholder; "
                    f"set a real secret when TART_ENV={self.env}"
                )
        return self

    @model_validator(mode="after")
    def _retry_schedule(self) -> Settings:
        for old, new in RETIRED_SETTINGS.items():
            if old in os.environ:  # silently ignored, it would leave the old schedule in doubt
                raise ValueError(f"{old} is no longer read; set {new} instead")
        if self.send_retry_max_seconds < self.send_retry_min_seconds:
            raise ValueError("TART_SEND_RETRY_MAX_SECONDS is below TART_SEND_RETRY_MIN_SECONDS")
        return self

    @model_validator(mode="after")
    def _admin_login(self) -> Settings:
        if not self.admin_password_login and not self.oidc_issuer:
            raise ValueError("TART_ADMIN_PASSWORD_LOGIN=false needs TART_OIDC_ISSUER (no way in)")
        if self.oidc_issuer:
            if not self.oidc_client_id:
                raise ValueError("TART_OIDC_ISSUER needs TART_OIDC_CLIENT_ID")
            if not self.oidc_issuer.startswith("https://") and self.env not in DEV_ENVIRONMENTS:
                raise ValueError(f"TART_OIDC_ISSUER must be https:// when TART_ENV={self.env}")
            if not (self.oidc_allowed_domains or self.oidc_owner_groups or self.oidc_member_groups):
                raise ValueError(
                    "TART_OIDC_ISSUER needs TART_OIDC_ALLOWED_DOMAINS or owner/member groups"
                )
        return self

    @model_validator(mode="after")
    def _verify_tls_outside_dev(self) -> Settings:
        if not self.tls_verify and self.env not in DEV_ENVIRONMENTS:
            raise ValueError(f"TART_TLS_VERIFY=false is for dev only, not TART_ENV={self.env}")
        return self

    @property
    def is_dev(self) -> bool:
        return self.env in DEV_ENVIRONMENTS


class SettingsError(SystemExit):
    """Raised to stop a process with one readable line instead of a traceback."""


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad setting, as an operator would type it."""
    parts = []
    for item in error.errors():
        field = "".join(str(loc) for loc in item["loc"][:1])
        name = f"TART_{field.upper()}" if field else "settings"
        parts.append(f"{name}: {item['msg']}")
    return "invalid setting " + "; ".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, loaded once. A bad value exits with one clear line."""
    try:
        return Settings()
    except ValidationError as error:
        print(f"tart: {describe_validation_error(error)}", file=sys.stderr)
        raise SettingsError(2) from None
