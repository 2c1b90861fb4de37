"""Prefect automations installed with the deployments: the zombie-run remedy and the operator alerts.

- "receipts: crash zombie flow runs": a run that heartbeated and then went quiet (its worker or process was
  killed) is marked Crashed, so the Prefect UI never shows a dead run as Running (PrefectHQ/prefect#16746).
  Deployments heartbeat every 30 s (prefect.yaml); runs outside a worker keep Prefect's 180 s default, so the
  window is 240 s — past both, short of our own 3-minute database stale rule plus a margin.
- "receipts: sync or deletion run failed": a `gmail-sync` or `receipt-deletion` run Failed or Crashed.
- "receipts: mailbox sync overdue": the incremental-syncs flow's overdue event (no completed sync for 24 h),
  at most once per mailbox per day.

Alerts go through one Prefect notification block, `ALERT_NOTIFICATION_BLOCK` (`<block-type-slug>/<name>`,
default `custom-webhook/receipts-alerts`); with `ALERT_WEBHOOK_URL` set, that default webhook block is written
for you. Installing again replaces the automations by name, so it is safe to repeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState, SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.exceptions import ObjectNotFound

from flows.incremental_syncs import OVERDUE_EVENT
from receipt_sync.settings import Settings

ZOMBIE = "receipts: crash zombie flow runs"
RUN_FAILED = "receipts: sync or deletion run failed"
MAILBOX_OVERDUE = "receipts: mailbox sync overdue"
ZOMBIE_AFTER = timedelta(seconds=240)
DEFAULT_BLOCK = "custom-webhook/receipts-alerts"
ALERTED_FLOWS = ["gmail-sync", "receipt-deletion"]
_FINAL = [
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Crashed",
]


@dataclass
class Installed:
    names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def zombie_automation(within: timedelta = ZOMBIE_AFTER) -> AutomationCore:
    """Prefect's documented remedy: after a heartbeat, expect another heartbeat or a final state within `within`."""
    trigger = EventTrigger(
        after={"prefect.flow-run.heartbeat"},
        expect={"prefect.flow-run.heartbeat", *_FINAL},
        match={"prefect.resource.id": ["prefect.flow-run.*"]},
        for_each={"prefect.resource.id"},
        posture=Posture.Proactive,
        threshold=1,
        within=within,
    )
    action = ChangeFlowRunState(
        state=StateType.CRASHED, message="Flow run marked Crashed: its heartbeats stopped (worker or process lost)."
    )
    return AutomationCore(name=ZOMBIE, description=zombie_automation.__doc__ or "", trigger=trigger, actions=[action])


def run_failed_automation(block_id: UUID) -> AutomationCore:
    trigger = EventTrigger(
        expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related={"prefect.resource.role": "flow", "prefect.resource.name": ALERTED_FLOWS},
        posture=Posture.Reactive,
        threshold=1,
    )
    notify = SendNotification(
        block_document_id=block_id,
        subject="Receipt Sync: {{ flow.name }} run {{ flow_run.name }} {{ flow_run.state.name }}",
        body="Flow run {{ flow_run.name }} ended {{ flow_run.state.name }}: {{ flow_run.state.message }}\n"
        "Retry it from the Prefect UI (it resumes from its checkpoint): {{ flow_run|ui_url }}",
    )
    return AutomationCore(name=RUN_FAILED, trigger=trigger, actions=[notify])


def overdue_automation(block_id: UUID) -> AutomationCore:
    trigger = EventTrigger(
        expect={OVERDUE_EVENT},
        match={"prefect.resource.id": "receipts.mailbox.*"},
        for_each={"prefect.resource.id"},
        posture=Posture.Reactive,
        threshold=1,
        within=timedelta(hours=24),  # fire once, then stay quiet for a day per mailbox
    )
    notify = SendNotification(
        block_document_id=block_id,
        subject="Receipt Sync: {{ event.resource['prefect.resource.name'] }} has no completed sync for 24 h",
        body="{{ event.payload.message }}\nCheck the gmail-sync runs of this business in the Prefect UI.",
    )
    return AutomationCore(name=MAILBOX_OVERDUE, trigger=trigger, actions=[notify])


def _replace(client: SyncPrefectClient, automation: AutomationCore) -> str:
    for existing in client.read_automations_by_name(automation.name):
        client.delete_automation(existing.id)
    client.create_automation(automation)
    return automation.name


def notification_block_id(client: SyncPrefectClient, settings: Settings) -> UUID | None:
    """The configured block's id; writes the default webhook block first when ALERT_WEBHOOK_URL is set."""
    slug, _, name = settings.alert_notification_block.partition("/")
    if settings.alert_webhook_url and settings.alert_notification_block == DEFAULT_BLOCK:
        block = CustomWebhookNotificationBlock(
            name="receipt-sync",
            url=settings.alert_webhook_url,
            json_data={"subject": "{{subject}}", "text": "{{body}}"},
        )
        block.save(name, overwrite=True)  # the sync path uses the client of the settings context we run in
    try:
        return client.read_block_document_by_name(name=name, block_type_slug=slug).id
    except ObjectNotFound:
        return None


def install_automations(client: SyncPrefectClient, settings: Settings) -> Installed:
    """Install (or replace) the zombie remedy always, and the alerts when a notification block is configured."""
    installed = Installed(names=[_replace(client, zombie_automation())])
    block_id = notification_block_id(client, settings)
    if block_id is None:
        installed.notes.append(
            f"alerts not installed: notification block {settings.alert_notification_block!r} not found; "
            "set ALERT_WEBHOOK_URL (or create that block in the Prefect UI) and run `receipts deploy` again"
        )
        return installed
    installed.names += [
        _replace(client, run_failed_automation(block_id)),
        _replace(client, overdue_automation(block_id)),
    ]
    return installed
