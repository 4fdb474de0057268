"""The dependency order docs/architecture.md draws: no module imports from a layer to its right, the shared
utilities import nothing above them, and nothing below ``cli`` imports click or rich's console."""

import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "hwnas")
#: left to right, as docs/architecture.md draws them
ORDER = ["space", "cost", "profilers", "lut", "constraints", "data", "supernet", "search", "export", "cli"]
#: shared utilities any layer may use; they import only each other
BASE = ["errors", "registry", "io", "plots"]


def modules():
    for root, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(root, f)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                yield path, rel.split(".")[0]


def imports(path):
    for n in ast.walk(ast.parse(open(path).read())):
        if isinstance(n, ast.ImportFrom) and n.module:
            yield n.module
        elif isinstance(n, ast.Import):
            yield from (a.name for a in n.names)


@pytest.mark.parametrize("path,layer", [m for m in modules() if m[1] not in ("__init__", "__main__")],
                         ids=lambda v: os.path.relpath(v, ROOT) if isinstance(v, str) and os.sep in v else v)
def test_no_import_points_right(path, layer):
    for mod in imports(path):
        parts = mod.split(".")
        if parts[0] in ("click", "rich") and layer != "cli":
            assert mod not in ("click", "rich.console"), f"{path} imports {mod}: only cli may"
        if parts[0] != "hwnas" or len(parts) < 2:
            continue
        other = parts[1]
        if layer in BASE:
            assert other in BASE, f"{path} (a shared utility) imports {mod}"
        elif other in ORDER:
            assert ORDER.index(other) <= ORDER.index(layer), f"{path} ({layer}) imports {mod} ({other}), to its right"
