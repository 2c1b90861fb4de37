"""Is it a receipt? A score from general signals, each one explained in a short sentence.

Positive: receipt/invoice wording (subject weighs more than body), purchase phrases, an amount beside a
total-like label, a document number or booking code, an invoice PDF. Negative: saying it is not a
receipt, quotes and estimates, shipping notices, promotional wording, replies, mailing lists and
personal senders. No rule names a particular sender.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from receipt_sync.extract.totals import TotalCandidate

THRESHOLD = 3.5

_DOC_WORDS = re.compile(
    r"(?<!\w)(?:e-?receipts?|receipts?|invoices?|tax invoice|credit note|credit memo|payment receipt|"
    r"facture|factures|rechnung|factuur|faktura|quittung|reçu|recibo|ricevuta|gutschrift|avoir|"
    r"חשבונית מס קבלה|חשבונית מס|חשבונית זיכוי|חשבונית|[והבלמש]?קבלה|קבלות)(?!\w)",
    re.IGNORECASE,
)
_PURCHASE = re.compile(
    r"thanks? (?:you )?for (?:your )?(?:order|purchase|payment|booking|shopping|subscribing)|"
    r"order confirm\w*|payment confirm\w*|purchase confirm\w*|booking (?:is )?confirmed|"
    r"reservation (?:is )?confirmed|trip confirmation|confirms your (?:recent )?(?:payment|purchase|order)|"
    r"your (?:payment|purchase) (?:of|has been|was)|we(?:'ve| have)? charged|you paid|billed to|"
    r"card ending|payment method|amount paid|order summary|ordered:|your order|"
    r"תודה על (?:רכישתך|הזמנתך|התשלום)|אישור תשלום|אישור הזמנה|התשלום התקבל|פרטי התשלום|אמצעי תשלום",
    re.IGNORECASE,
)
_NOT_RECEIPT = re.compile(
    r"(?:this|it|that)(?: email| message| document)? (?:is not|isn't|is no|does not constitute) a (?:receipt|"
    r"proof of (?:payment|purchase))|not a (?:valid )?receipt|no (?:payment|charge) (?:has been|was|is) "
    r"(?:made|taken|charged|required)|you have not been charged|you (?:will not|won't) be charged|"
    r"(?:אינו|אינה|אין זו|איננו) (?:מהווה )?(?:קבלה|חשבונית)|מסמך זה אינו",
    # no IGNORECASE: matched against lower-cased text, which lets the regex engine skip ahead fast
)
_QUOTE_SUBJECT = re.compile(
    r"(?<!\w)(?:quote|quotation|estimate|pro-?forma|offerte|angebot|devis|הצעת מחיר)(?!\w)", re.IGNORECASE
)
_SHIPPING_SUBJECT = re.compile(
    r"shipped|on (?:its|the) way|out for delivery|(?:has been|was) delivered|delivery (?:update|notice)|"
    r"tracking|dispatched|ready for pickup|נשלח|נשלחה|בדרך אליך|המשלוח|נמסר",
    re.IGNORECASE,
)
_PROMO = re.compile(
    r"\d+\s?% off|(?<!\w)sale(?!\w)|shop now|limited[- ]time|save up to|(?<!\w)deals?(?!\w)|coupon|"
    r"promo code|free shipping|buy now|special offer|exclusive offer|act now|order now|don't miss|"
    r"last chance|lowest price|subscribe now|free trial|win a|מבצע|הנחה|לחצו כאן|קופון|רק היום|במחיר מיוחד",
    # no IGNORECASE: matched against lower-cased text (see _NOT_RECEIPT)
)
_TRAVEL_SUBJECT = re.compile(r"trip|itinerary|booking|reservation|flight|confirm|הזמנה|טיסה", re.IGNORECASE)

_TOTAL_POINTS = {3: 3.0, 2: 2.5, 1: 2.0}


@dataclass
class Evidence:
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)

    def add(self, points: float, reason: str) -> None:
        self.score += points
        self.reasons.append(reason)

    @property
    def is_receipt(self) -> bool:
        return self.score >= THRESHOLD

    @property
    def confidence(self) -> float:
        """Probability-like: 0.5 at the threshold, rising with each extra signal."""
        return round(1 / (1 + math.exp(-(self.score - THRESHOLD) / 1.5)), 3)


@dataclass
class Signals:
    subject: str
    text: str
    total: TotalCandidate | None
    document_number_priority: int = 0
    is_reply: bool = False
    is_mailing_list: bool = False
    is_personal_sender: bool = False


def assess(s: Signals) -> Evidence:
    ev = Evidence()
    _wording(s, ev)
    _amounts(s, ev)
    _negatives(s, ev)
    return ev


def verdict(ev: Evidence) -> str:
    """The one-line summary that leads the reasons."""
    kind = "a receipt" if ev.is_receipt else "not a receipt"
    return f"Judged {kind}: score {ev.score:.1f} against a threshold of {THRESHOLD}."


def _wording(s: Signals, ev: Evidence) -> None:
    if m := _DOC_WORDS.search(s.subject):
        ev.add(3.0, f"The subject calls it a {m.group().lower()!r}.")
    elif m := _DOC_WORDS.search(s.text):
        ev.add(1.5, f"The text mentions {m.group().lower()!r}.")
    if m := (_PURCHASE.search(s.subject) or _PURCHASE.search(s.text)):
        ev.add(1.5, f"It reads like a purchase confirmation ({m.group().strip()!r}).")
    if s.document_number_priority >= 3:
        ev.add(1.5, "It carries an invoice number or booking code.")
    elif s.document_number_priority == 2:
        ev.add(1.0, "It carries an order number.")
    if _is_booking(s):
        ev.add(2.0, "It confirms a booking: a confirmation code and a booking or trip subject.")


def _is_booking(s: Signals) -> bool:
    return s.document_number_priority == 3 and _TRAVEL_SUBJECT.search(s.subject) is not None


def _amounts(s: Signals, ev: Evidence) -> None:
    if s.total is None and _is_booking(s):
        return  # bookings paid with points or vouchers show no price and are still the purchase record
    if s.total is None:
        ev.add(-1.0, "No amount appears beside a total-like label.")
        return
    money = s.total.money
    ev.add(_TOTAL_POINTS[s.total.priority], f"Found {money.text!r} beside {s.total.label!r}.")


def _negatives(s: Signals, ev: Evidence) -> None:
    lowered = s.text.lower()
    if m := _NOT_RECEIPT.search(lowered):
        ev.add(-8.0, f"It says it is not a receipt ({m.group()!r}).")
    if m := _QUOTE_SUBJECT.search(s.subject):
        ev.add(-3.0, f"The subject says it is a {m.group().lower()!r}, not a receipt.")
    if (m := _SHIPPING_SUBJECT.search(s.subject)) and not (s.total and s.total.priority == 3):
        ev.add(-3.0, f"It looks like a shipping notice ({m.group()!r}) with no charge.")
    promos = {m.group() for m in _PROMO.finditer(s.subject.lower() + "\n" + lowered)}
    if promos:
        ev.add(-min(2.5, 0.75 * len(promos)), f"It has promotional wording ({', '.join(sorted(promos)[:4])}).")
    if s.is_reply:
        ev.add(-1.5, "It is a reply in a conversation.")
    if s.is_mailing_list:
        ev.add(-1.5, "It came through a mailing list.")
    if s.is_personal_sender:
        ev.add(-1.0, "It comes from a personal address, not a business.")
