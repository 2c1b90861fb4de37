"""Who the receipt is from: the sender's display name without mailer words ("Lyft Receipts" → "Lyft"),
else the sender's domain ("purchase-noreply@twitch.tv" → "Twitch"), written as the mail writes it
("no-reply@lyftmail.com" and "Lyft fare" → "Lyft"); for a receipt a person forwarded, the forwarded
message's sender; in a PDF, the seller's company line.
"""

from __future__ import annotations

import re
from email.utils import parseaddr

# Every pattern here starts only after a non-space (`(?<!\s)`): a run of spaces is then tried once, from its
# start, not from each of its characters (which made `"a" + U+2003 * n + "b"` quadratic).
_MAILER_WORDS = re.compile(
    r"(?<!\s)(?:\s*[-|:,]\s*|\s+)(?:e-?receipts?|receipts?|invoices?|invoicing|billing|payments?|orders?|"
    r"reservations?|bookings?|notifications?|notify|no-?reply|do-?not-?reply|support|customer service|"
    r"customer care|service|team|accounts?|updates?|mailer|info|sales|הזמנות|קבלות|חשבוניות|"
    r"שירות לקוחות|צוות)\s*$",
    re.IGNORECASE,
)
_VIA = re.compile(r"(?<!\s)\s+(?:via|from|through)\s", re.IGNORECASE)  # the name ends where it starts
_GENERIC_NAMES = re.compile(
    r"^(?:no-?reply|do-?not-?reply|info|billing|support|noreply|receipts?|invoices?|orders?|payments?|"
    r"service|notifications?|mailer-daemon|postmaster|admin|accounts?)$",
    re.IGNORECASE,
)
FREE_MAIL = {
    "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com", "icloud.com",
    "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net", "web.de", "walla.co.il",
    "walla.com", "yahoo.co.uk", "mail.ru", "yandex.ru", "bezeqint.net", "012.net.il", "netvision.net.il",
}  # fmt: skip
_SECOND_LEVEL = {"co", "com", "org", "net", "ac", "gov", "ltd", "plc", "or"}
_LEGAL_SUFFIX = re.compile(
    r"^(?=.*[A-Za-z\u05d0-\u05ea])[^\n]{2,60}?[ \t](?:GmbH|AG|B\.V\.|BV|N\.V\.|Ltd\.?|Limited|Inc\.?|LLC|"
    r"S\.A\.|SA|SARL|SAS|S\.r\.l\.|Sp\. z o\.o\.|Pvt\.? Ltd\.?|Oy|AB|ApS|a\.G\.|KG|plc|בע\"מ)(?=[ \t]|$|,)",
    re.MULTILINE,
)


def vendor_from_sender(display_name: str, address: str, text: str = "") -> str | None:
    """A clean company name from the From header, or None for personal mail (free-mail senders). A name
    taken from the domain is written as `text` (the mail's body) writes it, when it does."""
    domain = address.rsplit("@", 1)[-1].lower() if "@" in address else ""
    name = _clean_name(display_name) if display_name and "@" not in display_name else ""
    if domain in FREE_MAIL:
        return None
    if name and not _GENERIC_NAMES.match(name):
        return name
    core = vendor_from_domain(domain)
    return (_brand_in_text(core, text) or core) if core else None


# What a sending domain adds to a brand: "lyftmail.com", "parkmobileglobal.com", "shopnews.example"
_DOMAIN_SUFFIXES = ("emails", "email", "mailer", "mail", "global", "news", "notifications", "app", "hq", "online")
_BRAND_REACH = 6000
_FORWARDED_FROM = re.compile(r"^[ \t>*]*(?:From|Von|De|Van|מאת): ?(.{3,200})$", re.MULTILINE)


def _brand_in_text(core: str, text: str) -> str | None:
    """The brand as the body spells it: the domain's name ("Github" → "GitHub"), or its start when the rest
    is a mailer word ("Lyftmail" → "Lyft"), as a whole word (letters may be split by one space, "&" or "-":
    "homedepot" → "Home Depot"). A lower-case spelling (a link) only confirms the name."""
    low = core.lower()
    stems = [low] + [low[: -len(x)] for x in _DOMAIN_SUFFIXES if low.endswith(x) and len(low) - len(x) >= 3]
    window = text[:_BRAND_REACH]
    for stem in stems:
        spaced = "[ &-]?".join(re.escape(c) for c in stem)
        found = re.finditer(rf"(?<![\w.@/-]){spaced}(?![\w@])", window, re.IGNORECASE)
        spellings = [m.group() for m in found]
        if cased := [w for w in spellings if not w.islower()]:
            return cased[0]
        if spellings:
            return stem.capitalize()
    return None


def forwarded_sender(text: str, own_address: str) -> tuple[str, str] | None:
    """(display name, address) of the first message header quoted in a forward ("From: Shop <a@shop.com>"),
    when it is a business address other than the forwarder's own."""
    for m in _FORWARDED_FROM.finditer(text[:_BRAND_REACH]):
        name, address = parseaddr(m.group(1).strip())
        domain = address.rsplit("@", 1)[-1].lower() if "@" in address else ""
        if domain and domain not in FREE_MAIL and address.lower() != own_address.lower():
            return name, address
    return None


MAX_NAME_CHARS = 200


def _clean_name(name: str) -> str:
    """Whitespace runs collapse to one space and the name is capped first: the patterns below end in
    `\\s*$`, which a backtracking engine retries from every space of a long run (quadratic)."""
    name = " ".join(name.split())[:MAX_NAME_CHARS]
    name = name.strip("\"'").strip()
    if via := _VIA.search(name):
        name = name[: via.start()]
    for _ in range(2):
        cleaned = _MAILER_WORDS.sub("", name).strip()
        if cleaned:
            name = cleaned
    return name


def vendor_from_domain(domain: str) -> str | None:
    """`email.alaskaair.com` → `Alaskaair`; `shop.example.co.il` → `Example`."""
    labels = [p for p in domain.split(".") if p]
    if len(labels) < 2:
        return None
    core = labels[-3] if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL else labels[-2]
    return core.capitalize() if core else None


def vendor_from_text(text: str) -> str | None:
    """The first line that names a company by its legal form (GmbH, B.V., Ltd, בע"מ, …), else the holder of
    the account the invoice asks to be paid into: the seller, whose name may otherwise be only in a logo."""
    m = _LEGAL_SUFFIX.search(text[:6000])
    if m is not None:
        line = m.group().strip(" ,-|")
        return line if len(line) <= 60 else None
    return _account_holder(text)


# The payee of a bank transfer: "Kontoinhaber: …", "Titulaire du compte : …", "Beneficiary: …", "Account name:
# …" beside the bank details (IBAN, BIC, sort code, bank), so that a card holder or an account's customer
# ("Account holder: Dana") is not taken; the name ends at the next field or the line's end.
_ACCOUNT_HOLDER = re.compile(
    r"(?<![^\W\d_])(?:account name|beneficiary(?: name)?|payee(?: name)?|kontoinhaber(?:in)?|zahlungsempfänger|"
    r"titulaire du compte|bénéficiaire|rekeninghouder|ten name van|begunstigde|intestatario(?: del conto)?|"
    r"beneficiario|titular de la cuenta|שם המוטב|המוטב)[ \t]*:[ \t]*([^\n|]{2,80})",
    re.IGNORECASE,
)
_HOLDER_END = re.compile(r"[ \t]+[-–—][ \t]|[ \t]{2,}|,[ \t]|\b(?:IBAN|BIC|SWIFT|BLZ|Konto|Account|Bank)\b")
_BANK_DETAILS = re.compile(r"\b(?:IBAN|BIC|SWIFT|sort code|BLZ|bank|banque|banca|banco|virement)|בנק", re.IGNORECASE)
_BANK_REACH = 200
MAX_HOLDER_SCAN = 20_000


def _account_holder(text: str) -> str | None:
    m = _ACCOUNT_HOLDER.search(text[:MAX_HOLDER_SCAN])
    if m is None or not _BANK_DETAILS.search(text, max(0, m.start() - _BANK_REACH), m.end() + _BANK_REACH):
        return None
    name = _HOLDER_END.split(m.group(1), maxsplit=1)[0].strip(" .;:")
    return name if re.search(r"[^\W\d_]{2}", name) else None


def is_personal_sender(address: str) -> bool:
    return address.rsplit("@", 1)[-1].lower() in FREE_MAIL
