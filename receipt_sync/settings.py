"""One Settings class for the whole product, read from the environment (and `.env`).

Every variable is documented in README.md and `.env.example`. Start-up validation turns each missing or
malformed value into one readable line instead of a stack trace deep inside a flow.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from receipt_sync.errors import ConfigurationError
from receipt_sync.mail.receipt_query import RECEIPT_QUERY

GOOGLE_GMAIL_ENDPOINT = "https://gmail.googleapis.com"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


class Settings(BaseSettings):
    """Product configuration; secrets are `SecretStr` so they never print."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    data_dir: Path = Path("./data")
    database_url: str | None = None
    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    encryption_key: SecretStr | None = None

    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    gmail_api_endpoint: str = GOOGLE_GMAIL_ENDPOINT
    google_token_uri: str = GOOGLE_TOKEN_URI
    gmail_quota_units_per_minute: int = Field(default=6000, gt=0)
    gmail_fetch_cost: int = Field(default=20, gt=0)
    gmail_list_cost: int = Field(default=5, gt=0)
    gmail_history_cost: int = Field(default=2, gt=0)
    gmail_profile_cost: int = Field(default=1, gt=0)
    gmail_max_in_flight: int = Field(default=5, gt=0)
    gmail_batch_size: int = Field(default=50, gt=0, le=100)
    gmail_retry_base_seconds: float = Field(default=1.0, ge=0)  # first back-off of a Gmail call (retry.py)
    gmail_page_size: int = Field(default=500, gt=0, le=500)
    gmail_receipt_query: str = RECEIPT_QUERY  # "" lists every message of the window
    # Project-wide Gmail quota shared by every worker through a Prefect rate limit (a global concurrency
    # limit with slot decay); GMAIL_PROJECT_RATE_LIMIT=false turns it off (e.g. tests without a Prefect API).
    gmail_project_rate_limit: bool = True
    gmail_project_units_per_minute: int = Field(default=1_200_000, gt=0)
    gmail_project_limit_name: str = "gmail-project-quota"
    gmail_project_chunk_units: int = Field(default=1000, gt=0)

    diagnostic_key: SecretStr | None = None
    # A killed worker's run must be seen dead (and resumable) within a minute: 10 s beats, stale after 45 s.
    sync_heartbeat_seconds: float = Field(default=10.0, gt=0)
    sync_stale_after_seconds: float = Field(default=45.0, gt=0)
    # A queued run no live worker picks up within this long is failed ("no worker picked it up").
    sync_pickup_timeout_seconds: float = Field(default=120.0, gt=0)
    # Bounded, fair execution: flow runs one worker runs at once (unset: from this machine's cores and memory),
    # the queue incremental syncs go to (served first), and how many long syncs (full/range) may run at once
    # across the pool (unset: this machine's worker limit minus a quarter kept for incremental syncs).
    worker_concurrency: int | None = Field(default=None, gt=0)
    incremental_work_queue: str = "incremental"
    full_sync_concurrency: int | None = Field(default=None, gt=0)
    # The incremental round's probe: how many mailboxes it asks for their history id at once (one process).
    probe_concurrency: int = Field(default=16, gt=0, le=256)
    # A worker counts as alive while its last heartbeat is within this many of its own heartbeat intervals.
    worker_missed_heartbeats: float = Field(default=3.0, gt=0)
    sync_progress_seconds: float = Field(default=2.0, gt=0)  # how often a page's progress is written while it runs
    sync_time_limit_seconds: float = Field(default=6 * 3600.0, gt=0)
    task_retry_base_seconds: float = Field(default=2.0, ge=0)
    sync_slot_lease_seconds: float = Field(default=60.0, ge=60)  # Prefect refuses leases under 60 s
    sync_slot_timeout_seconds: float = Field(default=600.0, gt=0)
    max_attachment_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    message_time_budget_seconds: float = Field(default=30.0, gt=0)
    message_memory_limit_mb: int = Field(default=1024, ge=128)  # the analysis child's address space
    api_max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    mbox_page_size: int = Field(default=200, gt=0)
    # Receipt deletion: batch size, and back-off for transient storage/database failures (2 s doubling to 30 s).
    deletion_batch_size: int = Field(default=1000, gt=0, le=10000)
    deletion_retry_base_seconds: float = Field(default=2.0, ge=0)
    deletion_storage_attempts: int = Field(default=4, gt=0)
    deletion_task_retries: int = Field(default=5, ge=0)
    deletion_deployment: str = "receipt-deletion/receipt-deletion"
    # History that stays bounded: final sync/deletion run records older than this many days are pruned by the
    # incremental round (0: keep forever), in batches of `retention_batch_size`; the Prefect server `receipts up`
    # starts keeps flow runs (with their task runs, logs and artifacts) as long (at least 1 day).
    run_retention_days: int = Field(default=30, ge=0)
    retention_batch_size: int = Field(default=1000, gt=0, le=10000)

    # Prefect, as the API sees it (PREFECT_API_URL is Prefect's own variable, read here too).
    prefect_api_url: str | None = None
    prefect_ui_url: str | None = None
    api_public_url: str | None = None  # where people reach the HTTP API: links to runs in summaries
    prefect_work_pool: str = "receipts"
    prefect_api_timeout_seconds: float = Field(default=3.0, gt=0)
    sync_deployment: str = "gmail-sync/gmail-sync"
    # Production topology (deployments/): the schedule of incremental syncs (unset: prefect.yaml's 15 minutes)
    # and where alerts go (a Prefect notification block `<type-slug>/<name>`; a webhook block from the URL).
    incremental_sync_interval_minutes: float | None = Field(default=None, gt=0)
    alert_notification_block: str = "custom-webhook/receipts-alerts"
    alert_webhook_url: str | None = None

    @field_validator(
        "database_url",
        "storage_url",
        "s3_endpoint_url",
        "prefect_api_url",
        "prefect_ui_url",
        "api_public_url",
        "alert_webhook_url",
        "incremental_sync_interval_minutes",
        "worker_concurrency",
        "full_sync_concurrency",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("encryption_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        for key in value.get_secret_value().split(","):
            try:
                Fernet(key.strip())
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    "must be comma-separated Fernet keys (32 url-safe base64 bytes each); "
                    "make one with: python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'"
                ) from exc
        return value

    @field_validator("storage_url")
    @classmethod
    def _storage_scheme(cls, value: str | None) -> str | None:
        if value and "://" in value and not value.startswith(("s3://", "file://")):
            raise ValueError("must be a folder path, file://PATH or s3://bucket/prefix")
        return value

    @model_validator(mode="after")
    def _database_scheme(self) -> Settings:
        url = self.resolved_database_url
        if not url.startswith(("sqlite", "postgresql")):
            raise ValueError("DATABASE_URL must be a sqlite:/// or postgresql:// URL")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            return "postgresql+psycopg2://" + url.split("://", 1)[1] if url.startswith("postgres://") else url
        return f"sqlite:///{(self.data_dir / 'receipts.db').resolve()}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or f"file://{(self.data_dir / 'documents').resolve()}"


def format_validation_error(exc: ValidationError) -> str:
    """One line per bad variable, named as the user sets it (the env var), without echoing secrets."""
    lines = []
    for err in exc.errors():
        name = "_".join(str(p) for p in err["loc"]).upper()
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {name}: {message}" if name else f"  {message}")
    return "Invalid configuration:\n" + "\n".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation failures into a `ConfigurationError` a user can act on."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigurationError(format_validation_error(exc)) from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
