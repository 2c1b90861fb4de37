"""receipt_sync."""
