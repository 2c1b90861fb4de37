"""The sample mailbox generator: realistic receipts and non-receipts with their truth (see generator.py)."""

from receipt_sync.samples.generator import generate_messages, write_mbox, write_truth
from receipt_sync.samples.truth import SampleMessage, Truth

__all__ = ["SampleMessage", "Truth", "generate_messages", "write_mbox", "write_truth"]
