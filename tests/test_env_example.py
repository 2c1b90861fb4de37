"""`.env.example` must work as copied: valid settings, and Prefect left in its local mode."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_in(directory: Path, code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DATABASE_", "DATA_DIR", "GMAIL_"))}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=directory, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_copied_env_example_gives_valid_settings_and_a_local_prefect(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    code = (
        "from receipt_sync.settings import get_settings; s = get_settings(); "
        "from prefect.settings import get_current_settings; "
        "print(s.gmail_quota_units_per_minute, repr(get_current_settings().api.url))"
    )
    result = _run_in(tmp_path, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["6000", "None"]  # an empty PREFECT_API_URL would read as ''
