"""Dependencies are pinned (issue 13): every requirement of pyproject.toml has an exact version in
constraints.txt, which `make install` (and so .ci/run) and the Dockerfile install with."""

from __future__ import annotations

import re
import tomllib

from tests.fixtures.prefect_server import REPO_ROOT


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_dependency_is_pinned_in_constraints() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    required = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    lines = [line for line in (REPO_ROOT / "constraints.txt").read_text().splitlines() if line and line[0] != "#"]
    pinned = {_name(line): line for line in lines}
    assert all("==" in line for line in lines)
    assert sorted(required - set(pinned)) == []


def test_installers_use_the_constraints() -> None:
    assert "-c constraints.txt" in (REPO_ROOT / "Makefile").read_text()
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "COPY pyproject.toml README.md constraints.txt" in dockerfile and "-c constraints.txt ." in dockerfile
