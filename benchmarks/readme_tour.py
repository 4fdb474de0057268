"""The README's quick tour, run as written, in order, with each step's wall time.

Reads the ``bash`` block between ``<!-- quick-tour -->`` and ``<!-- /quick-tour -->`` in README.md, runs every
command in a fresh working directory (``hwnas`` as ``python -m hwnas`` of this interpreter, ``../shared`` as the
shared data beside the checkout, its own ``HWNAS_CACHE``), stops at the first failure, and prints one line per
step.  ``tests/test_readme.py`` runs the same commands; the timings in the README come from this script on an
idle 2-core machine:

    .venv/bin/python benchmarks/readme_tour.py [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")


def tour_commands(readme: str = os.path.join(ROOT, "README.md")) -> list[list[str]]:
    """The quick tour's commands as argument lists (comments and the venv activation dropped)."""
    text = open(readme, encoding="utf-8").read()
    m = re.search(r"<!-- quick-tour -->\s*```bash\n(.*?)```\s*<!-- /quick-tour -->", text, re.S)
    if m is None:
        raise SystemExit("README.md has no quick-tour block")
    cmds = []
    for line in m.group(1).splitlines():
        args = shlex.split(line, comments=True)
        if args and args[0] != ".":
            cmds.append(args)
    return cmds


def resolve(args: list[str], shared: str = SHARED) -> list[str]:
    """``hwnas ...`` as this interpreter's module, ``../shared/...`` under ``shared``."""
    args = [a.replace("../shared", shared, 1) if a.startswith("../shared") else a for a in args]
    return [sys.executable, "-m", "hwnas", *args[1:]] if args[0] == "hwnas" else args


def run_tour(workdir: str, shared: str = SHARED,
             echo: bool = False) -> list[tuple[str, float, subprocess.CompletedProcess]]:
    """Every step in ``workdir``; (command, seconds, result) per step, up to the first that fails."""
    env = dict(os.environ, HWNAS_CACHE=os.path.join(workdir, "cache"))
    done = []
    for args in tour_commands():
        t0 = time.time()
        r = subprocess.run(resolve(args, shared), cwd=workdir, env=env, capture_output=True, text=True)
        done.append((shlex.join(args), time.time() - t0, r))
        if echo:
            print(f"{done[-1][1]:7.1f} s  {'ok ' if r.returncode == 0 else 'FAIL'}  {done[-1][0]}", flush=True)
        if r.returncode != 0:
            break
    return done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", default=None, help="[default: a fresh temporary directory]")
    a = ap.parse_args()
    workdir = a.workdir or tempfile.mkdtemp(prefix="hwnas-tour-")
    os.makedirs(workdir, exist_ok=True)
    steps = run_tour(workdir, echo=True)
    total = sum(t for _, t, _ in steps)
    print(f"total {total:.0f} s ({total / 60:.1f} min) in {workdir}")
    if steps[-1][2].returncode != 0:
        print(steps[-1][2].stderr, file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
