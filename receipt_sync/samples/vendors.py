"""Invented businesses that send the sample mail, in English and in Hebrew.

None of them is a real company; domains end in real-looking TLDs so sender-based signals behave as on real
mail. Each vendor has a home currency and a UTC offset (hours) used for its `Date` header.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Vendor:
    name: str
    domain: str
    currency: str
    utc_offset: int
    items: tuple[str, ...]


_CAFE = ("Flat white", "Oat latte", "Almond croissant", "Cold brew 1L", "House blend beans 500g")
_SOFTWARE = ("Pro plan (monthly)", "Team seat", "Extra storage 100 GB", "Priority support", "API add-on")
_OFFICE = ("A4 paper, 5 reams", "Toner cartridge", "Desk lamp", "Ergonomic chair", "Notebooks (10)")
_TRAVEL = ("Economy fare", "Seat selection", "Checked bag", "Hotel night", "Airport transfer")
_PRINT = ("Business cards x500", "Flyers A5 x1000", "Roll-up banner", "Letterheads x250")
_SERVICES = ("Consulting hours", "Bookkeeping, monthly", "Design revision", "Workshop ticket")
_HARDWARE = ("USB-C dock", "27in monitor", "Mechanical keyboard", "Wireless mouse", "HDMI cable 2m")

ENGLISH_VENDORS: tuple[Vendor, ...] = (
    Vendor("Blue Harbor Coffee Roasters", "blueharborcoffee.com", "USD", -5, _CAFE),
    Vendor("Cloudkite Hosting", "cloudkite.io", "USD", -8, _SOFTWARE),
    Vendor("Tidewater Office Supply", "tidewateroffice.com", "USD", -5, _OFFICE),
    Vendor("Kestrel Analytics Inc.", "kestrelanalytics.com", "USD", -7, _SOFTWARE),
    Vendor("Ironbark Coworking", "ironbarkcowork.com", "USD", -6, _SERVICES),
    Vendor("Meridian Byte Electronics", "meridianbyte.com", "USD", -8, _HARDWARE),
    Vendor("Nordlicht Software GmbH", "nordlicht-software.de", "EUR", 1, _SOFTWARE),
    Vendor("Maison Verdier", "maisonverdier.fr", "EUR", 1, _OFFICE),
    Vendor("Ostara Reisen", "ostara-reisen.de", "EUR", 1, _TRAVEL),
    Vendor("Halvorsen Cycles B.V.", "halvorsencycles.nl", "EUR", 1, _HARDWARE),
    Vendor("Pebble & Pine Stationers", "pebbleandpine.co.uk", "GBP", 0, _OFFICE),
    Vendor("Brightwell Print Co.", "brightwellprint.co.uk", "GBP", 0, _PRINT),
    Vendor("Quillfeather Accounting Ltd", "quillfeather.co.uk", "GBP", 0, _SERVICES),
    Vendor("Saffron Lane Catering", "saffronlane.co.uk", "GBP", 0, _CAFE),
    Vendor("Carmel Cloud Services Ltd.", "carmelcloud.co.il", "ILS", 2, _SOFTWARE),
    Vendor("Jaffa Port Hardware", "jaffaporthw.co.il", "ILS", 2, _HARDWARE),
)

_HE_CAFE = ("אספרסו כפול", "קרואסון חמאה", "כריך טונה", 'פולי קפה 1 ק"ג')
_HE_PRINT = ("כרטיסי ביקור 500 יח'", "פלאיירים A5", "שלט רול-אפ", "הדפסה צבעונית")
_HE_TECH = ("מחשב נייד", "עכבר אלחוטי", "מקלדת", "כבל HDMI", "שעת טכנאי")
_HE_SERVICES = ("ייעוץ עסקי", "הנהלת חשבונות - חודשי", "שעות עבודה", "דמי מנוי חודשי")
_HE_GARDEN = ("עציץ זית", "אדמה לשתילה 50 ליטר", "ערכת השקיה", "שתילי תבלינים")

HEBREW_VENDORS: tuple[Vendor, ...] = (
    Vendor("קפה הנמל הכחול", "bluenamal.co.il", "ILS", 2, _HE_CAFE),
    Vendor('דפוס השרון בע"מ', "dfus-hasharon.co.il", "ILS", 2, _HE_PRINT),
    Vendor("מחשבים ועוד", "machshevim-veod.co.il", "ILS", 2, _HE_TECH),
    Vendor("סטודיו גפן", "studio-gefen.co.il", "ILS", 2, _HE_SERVICES),
    Vendor('תקשורת אורות בע"מ', "orot-tikshoret.co.il", "ILS", 2, _HE_TECH),
    Vendor("משתלת גן ירוק", "gan-yarok.co.il", "ILS", 2, _HE_GARDEN),
    Vendor("לוי את כהן רואי חשבון", "levi-cohen-cpa.co.il", "ILS", 2, _HE_SERVICES),
    Vendor("מאפיית לחם הארץ", "lechem-haaretz.co.il", "ILS", 2, _HE_CAFE),
)

MARKETERS: tuple[tuple[str, str], ...] = (
    ("Lumen & Loom Home", "lumenloom.com"),
    ("TrailForge Outdoor", "trailforge.com"),
    ("Gadgetry Weekly Deals", "gadgetry.shop"),
    ("Velvet Fern Beauty", "velvetfern.com"),
    ("Northwind Airlines", "northwind-air.com"),
)

HEBREW_MARKETERS: tuple[tuple[str, str], ...] = (
    ("אופנת הדר", "ofnat-hadar.co.il"),
    ("סופר השכונה", "super-hashchuna.co.il"),
    ("טיולי גליל", "tiyulei-galil.co.il"),
)

FRIENDS: tuple[tuple[str, str], ...] = (
    ("Maya Goldberg", "maya.goldberg@gmail.com"),
    ("Tom Ashworth", "tom.ashworth@outlook.com"),
    ("Noa Peretz", "noa.peretz@gmail.com"),
    ("Ben Okafor", "ben.okafor@yahoo.com"),
)

HEBREW_FRIENDS: tuple[tuple[str, str], ...] = (
    ("יעל מזרחי", "yael.mizrahi@gmail.com"),
    ("אבי שמעוני", "avi.shimoni@walla.co.il"),
)

OWNER = ("Dana Levi", "dana@levi-design.co.il")
