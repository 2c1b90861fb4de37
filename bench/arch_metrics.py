"""Architecture figures of the tree: layer -> layer imports, module and function sizes, loose edges.

Run from the project root: `python bench/arch_metrics.py` (reads the source, imports nothing of it).
"""

from __future__ import annotations

import ast
import re
import statistics
from collections import Counter
from pathlib import Path

LAYERS = ("api", "cli", "services", "deployments", "flows", "tasks", "models", "receipt_sync")
EDGE_LAYERS = ("api", "cli", "services", "tasks", "flows", "models", "deployments")  # where dict[str, Any] counts


def _modules(root: Path) -> list[tuple[str, Path]]:
    found = []
    for layer in LAYERS:
        if (root / f"{layer}.py").is_file():  # a layer that is one module (cli.py before the cli/ package)
            found.append((layer, root / f"{layer}.py"))
        found += [(layer, p) for p in sorted((root / layer).rglob("*.py")) if "migrations" not in p.parts]
    return found


def _layers_imported(nodes: list[ast.stmt] | list[ast.AST], layer: str) -> set[str]:
    found = set()
    for node in nodes:
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found |= {n.split(".")[0] for n in names if n.split(".")[0] in LAYERS and n.split(".")[0] != layer}
    return found


def _in_function_imports(tree: ast.Module) -> list[ast.AST]:
    return [
        n
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        for n in ast.walk(fn)
        if isinstance(n, ast.Import | ast.ImportFrom)
    ]


def main(root: Path = Path(".")) -> None:
    edges: Counter[tuple[str, str]] = Counter()
    hidden: Counter[tuple[str, str]] = Counter()
    module_lines, function_lines, loose = [], [], 0
    for layer, path in _modules(root):
        text = path.read_text()
        tree = ast.parse(text)
        module_lines.append(len(text.splitlines()))
        if layer in EDGE_LAYERS:
            loose += len(re.findall(r"dict\[str, Any\]", text))
        for other in _layers_imported(tree.body, layer):
            edges[(layer, other)] += 1
        for other in _layers_imported(_in_function_imports(tree), layer):
            hidden[(layer, other)] += 1
        function_lines += [
            n.end_lineno - n.lineno + 1 for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
    print("layer -> layer: modules importing it at module level (+ modules importing it inside a function)")
    for a, b in sorted(set(edges) | set(hidden)):
        extra = f" (+{hidden[(a, b)]} in functions)" if hidden[(a, b)] else ""
        print(f"  {a:>12} -> {b:<12} {edges[(a, b)]}{extra}")
    print(
        f"layer pairs: {len(edges)} at module level, {sum(edges.values())} module edges; "
        f"{sum(hidden.values())} module edges inside functions"
    )
    print(
        f"modules: {len(module_lines)}, lines median {statistics.median(module_lines):.0f} max {max(module_lines)}; "
        f"functions: {len(function_lines)}, lines median {statistics.median(function_lines):.0f} "
        f"max {max(function_lines)}"
    )
    print(f"dict[str, Any] outside the domain package: {loose}")


if __name__ == "__main__":
    main()
