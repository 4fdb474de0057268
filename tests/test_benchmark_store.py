"""The benchmarks' result store: parts run as separate processes on one ``--out`` must not drop each other's
results (a lost standalone run would silently shrink a ranking benchmark's reference)."""

import json
import multiprocessing
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))

from shared_data import Store  # noqa: E402


def _fill(out: str, tag: str, n: int) -> None:
    store = Store(out)  # opened before the other process writes: its view goes stale at once
    for i in range(n):
        store.put("standalone", {f"{tag}{i}": i}, merge=True)
        store.put(f"last-{tag}", i)


def test_two_processes_filling_one_dict_keep_every_entry(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_fill, args=(str(tmp_path), tag, 40)) for tag in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    d = json.load(open(tmp_path / "results.json"))
    assert sorted(d["standalone"]) == sorted(f"{t}{i}" for t in "ab" for i in range(40))
    assert d["last-a"] == d["last-b"] == 39


def test_put_without_merge_replaces_the_value(tmp_path):
    s = Store(str(tmp_path))
    s.put("x", {"a": 1})
    s.put("x", {"b": 2})
    assert Store(str(tmp_path)).get("x") == {"b": 2}
