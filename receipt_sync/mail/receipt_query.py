"""The Gmail search a full sync lists with: any message that names a receipt, a payment or a booking in any
field, or carries an attachment. Only messages it lists are fetched (SPEC §4: spend quota where receipts are).

Chosen for recall on real mail, not for the generator: `python -m bench.query_recall` measures it on the
development set's real receipts (every one listed, PDFs counted as attachments of a plain email) and on the
generated mailbox's truth. Words, not `subject:` or `category:` filters — real receipts are titled "Your trip
confirmation", "Ordered: …" or "Thanks! Your booking is confirmed", and land outside Updates. Gmail matches
whole words, so plural and Hebrew forms are listed separately. GMAIL_RECEIPT_QUERY="" lists every message.

Order words ("Thanks for your order", "Your … order #… is confirmed", "Order total") and the main European
languages' words for order, receipt, payment and confirmation were added after an independent check found
shop confirmations none of the other words list; `python -m bench.query_recall --terms` shows what each word
lists alone and what only it lists (what dropping it would lose). A word that lists no receipt only another
word misses still costs nothing on real mail when it lists no other mail either.
"""

from __future__ import annotations

RECEIPT_TERMS = (
    *("receipt", "receipts", "invoice", "invoices", "paid", "payment", "charged", "billed", "billing"),
    *("purchase", "ordered", "amount", "booking", "reservation", "confirmation", "trip"),
    *('"for your order"', '"order total"', '"order confirmation"', "confirmed"),  # "order" alone: abandoned carts
    *("bestellung", "bestellbestätigung", "auftragsbestätigung", "zahlung", "beleg"),  # German
    *("commande", "reçu", "paiement"),  # French
    *("pedido", "recibo", "pago", "compra", "encomenda", "pagamento"),  # Spanish, Portuguese
    *("ordine", "ricevuta", "conferma"),  # Italian
    *("bestelling", "bevestiging", "betaling"),  # Dutch
    *("rechnung", "facture", "factuur", "fattura", "factura", "faktura", "quittung"),
    *("חשבונית", "חשבוניות", "קבלה", "קבלות", "תשלום", "הזמנה", "הזמנתך", "ההזמנה"),
)
RECEIPT_QUERY = "{" + " ".join((*RECEIPT_TERMS, "has:attachment")) + "}"
