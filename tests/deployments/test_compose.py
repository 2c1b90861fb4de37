"""docker-compose.yml validates with the documented .env.example values and refuses a missing required one.

Debian's `docker-compose` (1.29) checks the file, interpolation and keys without a Docker engine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from prefect.settings.models.server.services import ServerServicesDBVacuumSettings

from tests.fixtures.prefect_server import REPO_ROOT

pytestmark = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="apt-get install docker-compose")


def _documented_env(tmp_path: Path, **changes: str | None) -> Path:
    """.env.example with the Fernet key it tells you to make, plus `changes` (None removes a variable)."""
    lines = (REPO_ROOT / ".env.example").read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    values["ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    for key, value in changes.items():
        if value is None:
            del values[key]
        else:
            values[key] = value
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return env_file


def _config(env_file: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ENCRYPTION_KEY", "POSTGRES_PASSWORD", "DATABASE_URL")}
    return subprocess.run(
        ["docker-compose", "--env-file", str(env_file), "-f", "docker-compose.yml", "config"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_compose_config_passes_with_the_documented_env_values(tmp_path: Path) -> None:
    result = _config(_documented_env(tmp_path))
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert {"postgres", "prefect-postgres", "prefect-server", "migrate", "deploy", "worker", "api", "minio"} <= set(
        services
    )
    assert services["worker"]["depends_on"]["deploy"]["condition"] == "service_completed_successfully"
    assert services["api"]["depends_on"]["prefect-server"]["condition"] == "service_healthy"
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]  # --scale worker=N
    for name in ("postgres", "prefect-server", "worker", "api", "minio"):
        assert services[name]["healthcheck"]["test"] and services[name]["restart"] == "unless-stopped"


@pytest.mark.parametrize("missing", ["POSTGRES_PASSWORD", "ENCRYPTION_KEY", "MINIO_ROOT_PASSWORD"])
def test_compose_config_fails_naming_a_missing_required_variable(tmp_path: Path, missing: str) -> None:
    result = _config(_documented_env(tmp_path, **{missing: None}))
    assert result.returncode != 0
    assert f"{missing} is required" in result.stderr


def test_compose_prefect_server_vacuums_flow_runs_after_30_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The names and values compose gives the Prefect server are ones Prefect's own settings parser accepts."""
    result = _config(_documented_env(tmp_path))
    environment = yaml.safe_load(result.stdout)["services"]["prefect-server"]["environment"]
    for key, value in environment.items():
        if key.startswith("PREFECT_SERVER_SERVICES_DB_VACUUM_"):
            monkeypatch.setenv(key, str(value))
    vacuum = ServerServicesDBVacuumSettings()
    assert vacuum.enabled_vacuum_types == {"events", "flow_runs", "orphans"}
    assert vacuum.retention_period == timedelta(days=30)
