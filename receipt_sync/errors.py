"""Domain errors. Each carries a message meant for the user; the API and CLI map them in one place."""

from __future__ import annotations


class ReceiptSyncError(Exception):
    """Base of every error the product raises on purpose."""

    code = "error"


class ConfigurationError(ReceiptSyncError):
    code = "configuration_error"


class NotFoundError(ReceiptSyncError):
    code = "not_found"


class RunRecordMissing(NotFoundError):
    """A flow run names a run record that does not exist: its trigger was rolled back after Prefect made it."""


class MailboxAuthError(ReceiptSyncError):
    """The mailbox's refresh token was revoked or expired: only the user reconnecting can fix it."""

    code = "mailbox_needs_reauth"


class MailboxNotConnected(ReceiptSyncError):
    code = "mailbox_not_connected"


class TransientMailError(ReceiptSyncError):
    """Rate limits, 5xx, timeouts, resets: worth retrying after a back-off."""

    code = "mail_transient_error"

    def __init__(self, message: str, retry_after: float | None = None, *, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.rate_limited = rate_limited  # Gmail pacing us (429/403 rate limit), not failing


class PermanentMailError(ReceiptSyncError):
    code = "mail_error"


class HistoryExpiredError(ReceiptSyncError):
    """Gmail no longer has the stored history id: the caller must fall back to a full sync."""

    code = "history_expired"


class MalformedMessageError(ReceiptSyncError):
    """One message could not be read; it fails alone, never its page."""

    code = "malformed_message"


class SyncAlreadyRunning(ReceiptSyncError):
    code = "sync_already_running"

    def __init__(self, message: str, run_id: int | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


class StorageError(ReceiptSyncError):
    code = "storage_error"


class DecryptionError(ReceiptSyncError):
    code = "decryption_error"


class InvalidRequest(ReceiptSyncError):
    """The caller asked for something malformed that validation of single fields cannot catch."""

    code = "invalid_request"


class AuthenticationRequired(ReceiptSyncError):
    code = "unauthorized"


class PermissionDenied(ReceiptSyncError):
    code = "forbidden"


class RunStateConflict(ReceiptSyncError):
    """The run is not in a state that allows the action (rerun a running run, cancel a finished one)."""

    code = "run_state_conflict"


class OrchestratorUnavailable(ReceiptSyncError):
    """Prefect cannot take the work now; `action` tells the operator what to start or fix."""

    code = "prefect_unavailable"

    def __init__(self, message: str, action: str) -> None:
        super().__init__(message)
        self.action = action


class NoWorkerAvailable(OrchestratorUnavailable):
    code = "no_worker"


class DeploymentMissing(OrchestratorUnavailable):
    code = "deployment_missing"


class DeletionAlreadyRunning(ReceiptSyncError):
    """A deletion of this business is queued, running or paused: deletions of one business never overlap."""

    code = "deletion_already_running"

    def __init__(self, message: str, run_id: int | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


class StorageUnavailable(StorageError):
    """Object storage refused every key of a batch on every attempt: an outage, not a per-document failure."""

    code = "storage_unavailable"
