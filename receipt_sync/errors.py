"""Domain errors. Each carries a message meant for the user; the API and CLI map them in one place."""

from __future__ import annotations


class ReceiptSyncError(Exception):
    """Base of every error the product raises on purpose."""

    code = "error"


class ConfigurationError(ReceiptSyncError):
    code = "configuration_error"


class NotFoundError(ReceiptSyncError):
    code = "not_found"


class MailboxAuthError(ReceiptSyncError):
    """The mailbox's refresh token was revoked or expired: only the user reconnecting can fix it."""

    code = "mailbox_needs_reauth"


class MailboxNotConnected(ReceiptSyncError):
    code = "mailbox_not_connected"


class TransientMailError(ReceiptSyncError):
    """Rate limits, 5xx, timeouts, resets: worth retrying after a back-off."""

    code = "mail_transient_error"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
