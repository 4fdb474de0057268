"""Extensions that live outside the package: a runner, an export format, a space or a strategy registered in a file
of its own (with ``@register_profiler``, ``register_format``, ...), loaded before the commands build their options
so that ``--backend``, ``--format`` and the runner option group list it.

Two ways to name them: ``$HWNAS_PLUGINS`` (comma-separated module names or paths to ``.py`` files), and the
``hwnas.plugins`` entry-point group of an installed package."""

from __future__ import annotations

import importlib
import importlib.util
import os
from importlib.metadata import entry_points

ENV = "HWNAS_PLUGINS"
GROUP = "hwnas.plugins"


def _load(spec: str) -> None:
    if spec.endswith(".py"):
        if not os.path.isfile(spec):
            raise FileNotFoundError(f"no such file {spec}")
        name = "hwnas_plugin_" + os.path.splitext(os.path.basename(spec))[0]
        mod_spec = importlib.util.spec_from_file_location(name, spec)
        assert mod_spec is not None and mod_spec.loader is not None
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
    else:
        importlib.import_module(spec)


def load_plugins() -> str | None:
    """Import every plugin; None, or the one-line error naming the plugin that failed (the CLI reports it)."""
    names = [s.strip() for s in os.environ.get(ENV, "").split(",") if s.strip()]
    for spec in names:
        try:
            _load(spec)
        except Exception as e:  # noqa: BLE001 -- any failure of a user's module is reported, not raised
            return f"{ENV}: cannot load {spec} ({type(e).__name__}: {e}); fix it or remove it from {ENV}"
    for ep in entry_points(group=GROUP):
        try:
            ep.load()
        except Exception as e:  # noqa: BLE001
            return f"plugin {ep.name} ({ep.value}, entry point {GROUP}) failed to load ({type(e).__name__}: {e})"
    return None
