"""Receipt detection and field extraction, English and Hebrew, from mail bodies and PDF attachments.

`extract_email(parse_email(raw))` for a message, `extract_pdf(data)` for a PDF, `extract_file(path)` for
`receipts extract`. Each returns an `Extraction` whose `to_json()` is the SPEC §8 contract.
"""

from receipt_sync.extract.core import extract_email, extract_file, extract_pdf
from receipt_sync.extract.model import Extraction

__all__ = ["Extraction", "extract_email", "extract_file", "extract_pdf"]
