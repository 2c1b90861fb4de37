"""Names for people: how a business's runs are named, tagged and keyed in the Prefect UI.

A run is `gmail-sync/acme-ltd-42/full`, tagged `business:42` and `business-name:Acme Ltd`, so an operator finds
a customer's runs by name or id; artifact keys (lowercase letters, digits and dashes, as Prefect requires) group
one business's progress and summaries across runs.
"""

from __future__ import annotations

import re

_NOT_KEY = re.compile(r"[^a-z0-9]+")
SLUG_LENGTH = 40
TAG_NAME_LENGTH = 100


def business_slug(business_id: int, name: str | None) -> str:
    """`acme-ltd-42`: the name's ASCII letters and digits, then the id (a name without any: `business-42`)."""
    words = _NOT_KEY.sub("-", (name or "").lower()).strip("-")[:SLUG_LENGTH].strip("-")
    return f"{words or 'business'}-{business_id}"


def sync_run_name(business_id: int, name: str | None, mode: str, reprocess_failed: bool = False) -> str:
    suffix = "reprocess-failed" if reprocess_failed else mode
    return f"gmail-sync/{business_slug(business_id, name)}/{suffix}"


def business_tags(business_id: int, name: str | None) -> list[str]:
    tags = [f"business:{business_id}"]
    if name and name.strip():
        tags.append(f"business-name:{' '.join(name.split())[:TAG_NAME_LENGTH]}")
    return tags


def artifact_key(kind: str, business_id: int, name: str | None) -> str:
    """`sync-progress-acme-ltd-42`: one key per business and kind, so the UI lists a business's versions."""
    return f"{kind}-{business_slug(business_id, name)}"
