"""The API's docs page renders in a real browser with no internet: its assets are served by the API itself."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from scripts.screenshots import CHROMIUM, CHROMIUM_FLAGS
from tests.fixtures.prefect_server import api_server

# No network beyond loopback for the browser: a CDN asset simply fails to load, as on an offline host.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


def _rendered_dom(url: str, profile: Path) -> str:
    cmd = [
        CHROMIUM,
        *CHROMIUM_FLAGS,
        OFFLINE,
        f"--user-data-dir={profile}",
        "--virtual-time-budget=15000",
        "--dump-dom",
        url,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)  # type: ignore[arg-type]
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="apt-get install chromium (.ci/run installs it)")
def test_the_docs_page_renders_the_api_offline(api_env: dict[str, str], tmp_path: Path) -> None:
    with api_server({**os.environ, **api_env}) as base:
        dom = _rendered_dom(f"{base}/docs", tmp_path / "profile")
    # Swagger UI drew the spec: the title and the operations exist only once its script ran and read /openapi.json.
    assert 'class="swagger-ui"' in dom
    assert "Receipt Sync API" in dom
    assert "/api/receipts/sync" in dom
    assert "cdn.jsdelivr.net" not in dom
