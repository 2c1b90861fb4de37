"""The Gmail search a full sync lists with: any message that names a receipt, a payment or a booking in any
field, or carries an attachment. Only messages it lists are fetched (SPEC §4: spend quota where receipts are).

Chosen for recall on real mail, not for the generator: `python -m bench.query_recall` measures it on the
development set's real receipts (every one listed, PDFs counted as attachments of a plain email) and on the
generated mailbox's truth. Words, not `subject:` or `category:` filters — real receipts are titled "Your trip
confirmation", "Ordered: …" or "Thanks! Your booking is confirmed", and land outside Updates. Gmail matches
whole words, so plural and Hebrew forms are listed separately. GMAIL_RECEIPT_QUERY="" lists every message.
"""

from __future__ import annotations

RECEIPT_TERMS = (
    *("receipt", "receipts", "invoice", "invoices", "paid", "payment", "charged", "billed", "billing"),
    *("purchase", "ordered", "amount", "booking", "reservation", "confirmation", "trip"),
    *("rechnung", "facture", "factuur", "fattura", "factura", "faktura", "quittung"),
    *("חשבונית", "חשבוניות", "קבלה", "קבלות", "תשלום", "הזמנה"),
)
RECEIPT_QUERY = "{" + " ".join((*RECEIPT_TERMS, "has:attachment")) + "}"
