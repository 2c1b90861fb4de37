"""The schema (SQLAlchemy 2 typed models) and query functions that take a session and never commit."""

from models.base import Base
from models.business import ApiToken, Business
from models.deletion import DeletionFailure, DeletionRun
from models.ledger import ProcessedMessage
from models.mailbox import MailboxConnection
from models.receipt import Receipt, ReceiptDocument
from models.runs import SyncRun

__all__ = [
    "ApiToken",
    "Base",
    "Business",
    "DeletionFailure",
    "DeletionRun",
    "MailboxConnection",
    "ProcessedMessage",
    "Receipt",
    "ReceiptDocument",
    "SyncRun",
]
