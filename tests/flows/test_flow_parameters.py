"""The deployment forms in the Prefect UI describe every parameter (Prefect reads the flows' `Args:` sections)."""

from __future__ import annotations

import pytest
from prefect.utilities.callables import parameter_schema_from_entrypoint

from tests.fixtures.prefect_server import REPO_ROOT


@pytest.mark.parametrize(
    "entrypoint", ["flows/gmail_sync.py:gmail_sync", "flows/incremental_syncs.py:incremental_syncs"]
)
def test_every_deployment_parameter_has_a_description(entrypoint: str) -> None:
    schema = parameter_schema_from_entrypoint(str(REPO_ROOT / entrypoint)).model_dump()  # as `prefect deploy` does

    described = {name: (prop.get("description") or "").strip() for name, prop in schema["properties"].items()}

    assert described
    assert [name for name, text in described.items() if not text] == []


def test_gmail_sync_offers_reprocessing_failed_messages() -> None:
    schema = parameter_schema_from_entrypoint(str(REPO_ROOT / "flows/gmail_sync.py:gmail_sync")).model_dump()

    assert schema["properties"]["reprocess_failed"]["default"] is False
    assert "failed" in schema["properties"]["reprocess_failed"]["description"]
