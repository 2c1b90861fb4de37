"""What the CLI tests share: the `receipts` command run in this process, and its environment."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from receipt_sync.samples import SampleMessage, generate_messages, write_mbox

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def cli_env(settings_env: dict[str, str], prefect_api_url: str) -> dict[str, str]:
    """The product's settings with a Prefect API: a command that runs a flow in this process reports to it."""
    return settings_env


def ok(*args: str) -> str:
    """What the command printed on stdout; it must succeed."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@dataclass(frozen=True)
class Imported:
    business_id: str
    messages: list[SampleMessage]  # what the mailbox holds, with the generator's truth
    summary: dict[str, Any]  # what `import-mbox` printed


@pytest.fixture
def imported(cli_env: dict[str, str], tmp_path: Path) -> Imported:
    """A business with a 60-message sample Takeout mailbox imported through `receipts import-mbox`."""
    messages = generate_messages(60, seed=17)
    mbox = tmp_path / "Takeout.mbox"
    write_mbox(messages, mbox)
    business_id = ok("business", "create", "--name", "Importer").strip()
    return Imported(business_id, messages, json.loads(ok("import-mbox", str(mbox), "--business", business_id)))
