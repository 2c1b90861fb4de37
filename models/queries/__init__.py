"""Query functions: each takes a session and never commits (the caller owns the transaction)."""
