"""The import rules of ARCHITECTURE.md, checked over the source's syntax tree (no import is executed).

api and cli call services (the api never reaches flows or tasks: only Prefect does); deployments run the
stack, the API server included; services reach flows only through Prefect and import no api, cli, flow or
task; flows call tasks and services; the domain package imports no layer and none of Prefect, FastAPI or the
database. Outside the CLI's lazily loaded commands, no
module imports a layer inside a function (the usual way an import cycle is hidden).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("api", "cli", "services", "deployments", "flows", "tasks", "models", "receipt_sync")
FRAMEWORKS = ("prefect", "fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn")

# What each layer may import of the others (anything not listed is refused).
ALLOWED: dict[str, set[str]] = {
    "api": {"services", "models", "receipt_sync"},
    "cli": {"services", "deployments", "flows", "models", "receipt_sync"},
    "deployments": {"api", "services", "flows", "models", "receipt_sync"},  # `receipts up` serves the API
    "services": {"models", "receipt_sync"},
    "flows": {"tasks", "services", "models", "receipt_sync"},
    "tasks": {"services", "models", "receipt_sync"},
    "models": {"receipt_sync"},
    "receipt_sync": set(),
}
# Entry points that import their commands lazily, so `receipts --help` does not load Prefect.
LAZY_IMPORTS_ALLOWED = ("cli.py", "deployments/")


def _modules() -> Iterator[tuple[str, Path]]:
    yield "cli", ROOT / "cli.py"
    for layer in LAYERS:
        if layer != "cli":
            for path in sorted((ROOT / layer).rglob("*.py")):
                if "migrations" not in path.parts:
                    yield layer, path


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module]
    return []


def _function_imports(tree: ast.AST) -> Iterator[ast.AST]:
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from (n for n in ast.walk(fn) if isinstance(n, ast.Import | ast.ImportFrom))


def _violations() -> Iterator[str]:
    for layer, path in _modules():
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(), filename=rel)
        for node in ast.walk(tree):
            for name in _imported(node):
                top = name.split(".")[0]
                if top in LAYERS and top != layer and top not in ALLOWED[layer]:
                    yield f"{rel}:{node.lineno} {layer} imports {name}"
                if layer == "receipt_sync" and top in FRAMEWORKS:
                    yield f"{rel}:{node.lineno} the domain package imports {name}"
        if not rel.startswith(LAZY_IMPORTS_ALLOWED):
            for node in _function_imports(tree):
                for name in _imported(node):
                    if name.split(".")[0] in LAYERS:
                        yield f"{rel}:{node.lineno} imports {name} inside a function"


def test_every_import_follows_the_architecture() -> None:
    assert list(_violations()) == []


@pytest.mark.parametrize(
    ("layer", "source", "expected"),
    [
        ("services", "from flows.gmail_sync import gmail_sync\n", "services imports flows.gmail_sync"),
        ("api", "import tasks.sync_pages\n", "api imports tasks.sync_pages"),
        ("receipt_sync", "from sqlalchemy import select\n", "the domain package imports sqlalchemy"),
        ("flows", "def f():\n    from services import slots\n", "imports services inside a function"),
    ],
)
def test_the_rules_catch_a_wrong_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layer: str, source: str, expected: str
) -> None:
    """The check itself can fail: a module that breaks a rule is reported."""
    (tmp_path / layer).mkdir()
    (tmp_path / layer / "bad.py").write_text(source)
    (tmp_path / "cli.py").write_text("")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert any(expected in v for v in _violations())
