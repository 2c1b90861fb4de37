"""The CLI's only imports inside functions: the entry points into code that loads Prefect.

Measured on the 2-core development machine (`/usr/bin/time receipts --help`, three runs each): with
`flows.gmail_sync`, `services.sync_requests` and `deployments.*` imported at module top, every command — a
one-line refusal included — spent 4.3-5.1 s of CPU importing Prefect before it could look at its options
(the lazy cli.py of before: 0.3 s); deferring them here brought it to 2.0 s, and deferring Google's client
libraries and the sample generator too to 1.5 s (SQLAlchemy, the models, the extractor remain). A refusal, `--help`,
`business`, `token`, `runs`, `export` and `extract` never load Prefect. Everything else in `cli/` imports at
module top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from rich.table import Table
from sqlalchemy.orm import Session

from receipt_sync.jsontypes import JsonObject

if TYPE_CHECKING:
    from models.runs import SyncParameters, SyncRun
    from receipt_sync.settings import Settings
    from services.demo import DemoScore


def run_gmail_sync(business_id: int, **params: Any) -> JsonObject:
    """The `gmail-sync` flow called in this process (the embedded default), tagged like a deployment run; its
    result (tasks/runs.py `SyncSummary.as_dict`)."""
    from prefect import tags

    from flows.gmail_sync import gmail_sync

    with tags(f"business:{business_id}", "gmail-sync"):
        return cast(JsonObject, gmail_sync(business_id=business_id, **params))  # its return value, not a State


def require_mailbox(session: Session, business_id: int) -> int:
    from services.sync_requests import require_mailbox

    return require_mailbox(session, business_id)


def request_sync(session: Session, settings: Settings, business_id: int, parameters: SyncParameters) -> SyncRun:
    from services.sync_requests import request_sync

    return request_sync(session, settings, business_id=business_id, parameters=parameters, trigger="cli")


def deploy(settings: Settings) -> list[str]:
    from deployments.deploy import deploy_all

    report = deploy_all(settings, interval_minutes=settings.incremental_sync_interval_minutes)
    return [*report.deployments, *report.automations, *report.limits, *report.notes]


def doctor() -> tuple[Table, bool]:
    from deployments.doctor import healthy, render, run_checks

    results = run_checks()
    return render(results), healthy(results)


def up(api_port: int, prefect_port: int, settings: Settings, say: Any) -> int:
    from deployments.up import UpConfig, run_up

    return run_up(UpConfig(api_port=api_port, prefect_port=prefect_port, data_dir=settings.data_dir.resolve()), say)


def connect_gmail_mailbox(business_id: int, refresh_token: str | None, address: str | None) -> tuple[int, str]:
    """Google's auth and API client libraries (~1 s of CPU to import) load only to connect a mailbox."""
    from services.gmail_connect import connect_gmail_mailbox

    return connect_gmail_mailbox(business_id, refresh_token, address)


def prepare_demo(count: int, seed: int) -> tuple[int, Any, Any]:
    from services.demo import prepare_demo

    return prepare_demo(count, seed)


def score_demo(business_id: int, truth: Any) -> DemoScore:
    from services.demo import score_demo

    return score_demo(business_id, truth)
