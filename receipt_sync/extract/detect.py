"""Is it a receipt? A score from general signals, each one explained in a short sentence.

Positive: receipt/invoice wording (subject weighs more than body), purchase phrases, an amount beside a
total-like label, a document number or booking code, an invoice PDF. Negative: saying it is not a
receipt, failed payments and charges still to come (renewal notices), quotes and estimates, shipping
notices, promotional wording, replies, mailing lists, personal senders, a document said to be attached
that is not there, and an attached archive or program (an "invoice.zip" lure). No rule names a particular
sender.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from receipt_sync.extract.scan import word_led
from receipt_sync.extract.totals import TotalCandidate

THRESHOLD = 3.5  # at or above: accepted as a receipt
# At or above (and below THRESHOLD): a candidate kept with status `needs_review`, so a borderline receipt
# reaches a person instead of vanishing. Calibrated on held-out families (bench/extraction_eval.py).
REVIEW_THRESHOLD = 2.5

_DOC_WORDS = re.compile(
    r"(?<!\w)(?:e-?receipts?|receipts?|invoices?|tax invoice|credit note|credit memo|payment receipt|"
    r"facture|factures|rechnung|factuur|faktura|quittung|reçu|recibo|ricevuta|gutschrift|avoir|"
    r"חשבונית מס קבלה|חשבונית מס|חשבונית זיכוי|חשבונית|[והבלמש]?קבלה|קבלות)(?!\w)",
    re.IGNORECASE,
)
# For lower-cased text with "\n" in front: the word with the non-word character before it, case-sensitive
# and opening with a character class, so the engine skips whole words in C.
_DOC_WORDS_LOWER = word_led(_DOC_WORDS.pattern.replace("(?<!\\w)", "", 1))
_PURCHASE = re.compile(
    r"thanks? (?:you )?for (?:your )?(?:order|purchase|payment|booking|shopping|subscribing)|"
    r"order confirm\w*|payment confirm\w*|purchase confirm\w*|booking (?:is )?confirmed|"
    r"reservation (?:is )?confirmed|trip confirmation|confirms your (?:recent )?(?:payment|purchase|order)|"
    r"your (?:payment|purchase) (?:of|has been|was)|we(?:'ve| have)? charged|you paid|billed to|"
    r"card ending|payment method|amount paid|order summary|ordered:|your order|"
    # a payment service's receipt of a payment made through it ("You sent a payment of £4.49 GBP to …")
    r"you(?: have|'ve)? sent (?:a payment|a total)|payment sent to|you authori[sz]ed a payment|"
    r"תודה על (?:רכישתך|הזמנתך|התשלום)|אישור תשלום|אישור הזמנה|התשלום התקבל|פרטי התשלום|אמצעי תשלום",
    re.IGNORECASE,
)
_PURCHASE_LOWER = re.compile(_PURCHASE.pattern)


def _phrases(*alternatives: str) -> re.Pattern[str]:
    """Phrases for lower-cased text, case-sensitive, each alternative opening with a plain letter: the
    regex engine then skips in C to the letters that can start one, instead of trying every position."""
    return re.compile("|".join(alternatives))


# "This summary is not a payment receipt", "this email is not an invoice": a statement about the mail itself
# wins over every receipt word it also carries.
_NOT_CLAIM = (
    r"(?: email| e-mail| message| document| summary| statement| notice| confirmation| letter| page)?"
    r" (?:is not|isn't|is no|does not constitute|should not be used as) an? (?:valid |official )?"
    r"(?:receipt|payment receipt|payment confirmation|proof of (?:payment|purchase))"
)  # not "invoice": a paid booking's receipt says "this isn't an invoice" (a receipt, not a tax invoice)
_NOT_HE = r" (?:מהווה )?(?:קבלה|חשבונית)"
_NOT_RECEIPT = _phrases(
    rf"this{_NOT_CLAIM}", rf"it{_NOT_CLAIM}", rf"that{_NOT_CLAIM}", r"not a (?:valid |payment |tax )?receipt",
    "not a payment confirmation",
    r"no (?:payment|charge) (?:has been|was|is) (?:made|taken|charged|required)", "you have not been charged",
    "you will not be charged", "you won't be charged", *(f"{w}{_NOT_HE}" for w in ("אינו", "אינה", "אין זו", "איננו")),
    "מסמך זה אינו",
)  # fmt: skip
_FAILED_PAYMENT = _phrases(  # a failed charge is no payment
    r"payment (?:has )?failed", r"payment (?:was |has been )?declined", r"card (?:was |has been )?declined",
    "payment unsuccessful", *(rf"{w} (?:process|charge|collect)" for w in ("could not", "couldn't", "were unable to",
    "was unable to")), "התשלום נכשל",
)  # fmt: skip
_FUTURE_CHARGE = _phrases(  # a charge announced, as renewal notices do
    r"will (?:be )?(?:automatically )?(?:charged|billed|debited)", r"shall be (?:charged|billed|debited)",
    r"will (?:auto-?)?renew", "renews on", r"upcoming (?:payment|charge|renewal)", r"wird (?:am \S+ )?abgebucht",
    "sera prélevé", r"wordt (?:op \S+ )?afgeschreven",
)  # fmt: skip
_QUOTE_SUBJECT = re.compile(
    r"(?<!\w)(?:quote|quotation|estimate|pro-?forma|offerte|angebot|devis|הצעת מחיר)(?!\w)", re.IGNORECASE
)
_SHIPPING_SUBJECT = re.compile(
    r"shipped|on (?:its|the) way|out for delivery|(?:has been|was) delivered|delivery (?:update|notice)|"
    r"tracking|dispatched|ready for pickup|נשלח|נשלחה|בדרך אליך|המשלוח|נמסר",
    re.IGNORECASE,
)
_PERCENT_OFF = re.compile("% off")  # "30% off": found by its literal tail, then its number is read back
_NUMBER_BEFORE = re.compile(r"(?<!\d)\d+\s?$")  # starts only where a number starts: linear
_PROMO = re.compile(
    # every alternative opens with a plain letter, so the engine skips ahead in C ("s(?<!\ws)ale" is
    # "sale" as a whole word); matched against lower-cased text
    r"s(?<!\ws)ale(?!\w)|shop now|limited[- ]time|save up to|d(?<!\wd)eals?(?!\w)|coupon|"
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
    def needs_review(self) -> bool:
        return REVIEW_THRESHOLD <= self.score < THRESHOLD

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
    attachment_missing: bool = False
    archive_attachment: str | None = None  # the name of an attached archive or program, if any


def assess(s: Signals) -> Evidence:
    ev = Evidence()
    lowered = s.text.lower()  # once: the body patterns are written in lower case and run case-sensitive
    _wording(s, lowered, ev)
    _amounts(s, ev)
    _negatives(s, lowered, ev)
    return ev


def verdict(ev: Evidence) -> str:
    """The one-line summary that leads the reasons."""
    if ev.needs_review:
        return (
            f"Needs review: score {ev.score:.1f}, under the threshold of {THRESHOLD} for a receipt "
            f"but at or above {REVIEW_THRESHOLD}."
        )
    kind = "a receipt" if ev.is_receipt else "not a receipt"
    return f"Judged {kind}: score {ev.score:.1f} against a threshold of {THRESHOLD}."


def _wording(s: Signals, lowered: str, ev: Evidence) -> None:
    if m := _DOC_WORDS.search(s.subject):
        ev.add(3.0, f"The subject calls it a {m.group().lower()!r}.")
    elif m := _DOC_WORDS_LOWER.search("\n" + lowered):
        ev.add(1.5, f"The text mentions {m.group()[1:]!r}.")
    if m := (_PURCHASE.search(s.subject) or _PURCHASE_LOWER.search(lowered)):
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


def _percent_offs(text: str) -> set[str]:
    found = set()
    for m in _PERCENT_OFF.finditer(text):
        if head := _NUMBER_BEFORE.search(text, max(0, m.start() - 12), m.start()):
            found.add(text[head.start() : m.end()])
    return found


def _unpaid(s: Signals, text: str, ev: Evidence) -> None:
    """A failed payment is never a receipt. A charge to come counts only when it is the mail's amount
    (fine print says "will be charged in USD") and the mail is not an invoice, which says when it is due."""
    if m := _FAILED_PAYMENT.search(text):
        ev.add(-4.0, f"It reports a failed payment ({m.group()!r}).")
    elif s.document_number_priority < 4 and not _DOC_WORDS.search(s.subject):
        for m in _FUTURE_CHARGE.finditer(text):
            if s.total is None or s.total.money.text.lower() in _line_at(text, m.start()):
                ev.add(-3.0, f"It announces a charge to come, not a payment made ({m.group()!r}).")
                return


def _line_at(text: str, offset: int) -> str:
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    return text[start : end if end >= 0 else len(text)]


def _negatives(s: Signals, lowered: str, ev: Evidence) -> None:
    if m := _NOT_RECEIPT.search(lowered):
        ev.add(-8.0, f"It says it is not a receipt ({m.group()!r}).")
    _unpaid(s, s.subject.lower() + "\n" + lowered, ev)
    if m := _QUOTE_SUBJECT.search(s.subject):
        ev.add(-3.0, f"The subject says it is a {m.group().lower()!r}, not a receipt.")
    if (m := _SHIPPING_SUBJECT.search(s.subject)) and not (s.total and s.total.priority == 3):
        ev.add(-3.0, f"It looks like a shipping notice ({m.group()!r}) with no charge.")
    text = s.subject.lower() + "\n" + lowered
    promos = {m.group() for m in _PROMO.finditer(text)} | _percent_offs(text)
    if promos:
        ev.add(-min(2.5, 0.75 * len(promos)), f"It has promotional wording ({', '.join(sorted(promos)[:4])}).")
    if s.is_reply:
        ev.add(-1.5, "It is a reply in a conversation.")
    if s.is_mailing_list:
        ev.add(-1.5, "It came through a mailing list.")
    if s.is_personal_sender:
        ev.add(-1.0, "It comes from a personal address, not a business.")
    if s.attachment_missing:
        ev.add(-1.5, "It says a document is attached, but the mail carries none that could be read.")
    if s.archive_attachment:
        ev.add(-6.0, f"It carries an archive or program ({s.archive_attachment!r}), the shape of a malware lure: "
               "a vendor sends an invoice as a PDF, a page or e-invoice XML.")  # fmt: skip
