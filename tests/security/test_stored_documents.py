"""Stored HTML documents are safe anywhere (issue 13): every bypass of the old block-list cleaner, sanitised
by the allow list and then re-parsed the way a browser would, carries no active content."""

from __future__ import annotations

import base64
import re
from email.message import EmailMessage

import pytest
from selectolax.lexbor import LexborHTMLParser

from receipt_sync.mime import body_document, parse_email

BYPASSES = {
    "tab-inside-scheme": '<a href="java&#9;script:alert(1)">pay</a>',
    "newline-inside-scheme": '<a href="java\nscript:alert(1)">pay</a>',
    "control-char-before-scheme": '<a href="\x01javascript:alert(1)">pay</a>',
    "entity-encoded-scheme": '<a href="&#106;avascript:alert(1)">pay</a>',
    "svg-animate-values": '<svg><a><animate attributeName="href" values="javascript:alert(1)"/>'
    "<text x=20 y=20>pay</text></a></svg>",
    "meta-refresh": '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "data-html-link": '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">pay</a>',
    "math-mglyph-style-mutation": "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style>"
    "</mglyph></table></mtext></math>",
    "svg-data-image": '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    "event-handler": '<p onclick="alert(1)">Total</p><body onload="alert(1)">',
    "form-action": '<form action="javascript:alert(1)"><button formaction="javascript:alert(1)">go</button></form>',
    "base-href": '<base href="javascript:alert(1)//"><a href="x">pay</a>',
    "iframe-srcdoc": '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>',
    "style-element": "<style>@import 'https://evil.example/x.css';</style>",
    "css-expression": '<div style="width: expression(alert(1)); background: url(javascript:alert(1))">x</div>',
    "object-embed": '<object data="javascript:alert(1)"></object><embed src="javascript:alert(1)">',
}
_ACTIVE_TAGS = {"script", "svg", "math", "meta", "iframe", "object", "embed", "form", "base", "style", "link"}
_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "values", "data", "xlink:href", "background", "srcdoc"}
_CONTROL_AND_SPACE = re.compile(r"[\x00-\x20\x7f]")


def active_content(html: str) -> list[str]:
    """What a browser would run or load from this page: active elements, handlers, non-http(s) URLs."""
    found = []
    for node in LexborHTMLParser(html).root.traverse():
        tag = node.tag.lower()
        if tag in _ACTIVE_TAGS and not (tag == "meta" and _is_our_meta(node.attributes)):
            found.append(f"<{tag}>")
        for name, value in node.attributes.items():
            name = name.lower()
            url = _CONTROL_AND_SPACE.sub("", value or "").lower()
            if name.startswith("on"):
                found.append(f"{tag}@{name}")
            elif name in _URL_ATTRIBUTES and not (
                url.startswith(("http:", "https:", "mailto:")) or re.match(r"data:image/(png|jpeg|gif);", url)
            ):
                found.append(f"{tag}@{name}={url[:40]}")
            elif name == "style" and ("expression" in url or "url(" in url):
                found.append(f"{tag}@style")
    return found


def _is_our_meta(attributes: dict) -> bool:
    return "charset" in attributes or attributes.get("http-equiv") == "Content-Security-Policy"


def _html_mail(html: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "Shop <billing@shop.example>", "Receipt"
    msg.set_content("Receipt")
    msg.add_alternative(f"<html><body>{html}<p>Total: $10.00</p></body></html>", subtype="html")
    return msg


def test_the_check_itself_sees_each_bypass_in_the_raw_html() -> None:
    for name, html in BYPASSES.items():
        assert active_content(f"<html><body>{html}</body></html>"), name


@pytest.mark.parametrize("name", BYPASSES)
def test_stored_html_keeps_no_active_content(name: str) -> None:
    doc = body_document(parse_email(_html_mail(BYPASSES[name]).as_bytes()))
    html = doc.data.decode()
    assert active_content(html) == []
    assert "Total: $10.00" in html


def test_inline_and_data_images_and_web_links_are_kept() -> None:
    png = base64.b64encode(b"\x89PNG-inline").decode()
    msg = _html_mail(
        '<img src="cid:logo@shop" alt="logo"><img src="data:image/png;base64,iVBORw0KGgo=">'
        '<a href="https://shop.example/orders/7">order</a><span style="color: red; font-weight: bold">x</span>'
    )
    msg.get_payload()[1].add_related(b"\x89PNG-inline", maintype="image", subtype="png", cid="<logo@shop>")
    html = body_document(parse_email(msg.as_bytes())).data.decode()
    assert f'src="data:image/png;base64,{png}"' in html
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in html
    assert 'href="https://shop.example/orders/7"' in html
    assert "color:red" in html.replace(" ", "")


def test_plain_text_bodies_are_escaped() -> None:
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "Shop <billing@shop.example>", "Receipt"
    msg.set_content('Total 10 <script>alert(1)</script> "quoted" & done')
    html = body_document(parse_email(msg.as_bytes())).data.decode()
    assert active_content(html) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted&quot; &amp; done" in html


def test_the_saved_file_carries_its_own_content_security_policy() -> None:
    html = body_document(parse_email(_html_mail("<p>x</p>").as_bytes())).data.decode()
    meta = LexborHTMLParser(html).css_first('meta[http-equiv="Content-Security-Policy"]')
    assert meta is not None and "default-src 'none'" in meta.attributes["content"]
