"""The shape of the code: registries feed the CLI, strategy options are declared and validated, cheap checks
come before expensive work, one runner per runtime."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from hwnas.cli.main import main
from hwnas.data import DATA_SOURCES
from hwnas.export.formats import list_formats
from hwnas.lut.importers import IMPORTERS
from hwnas.profilers import list_profilers
from hwnas.search import OptionError, get_strategy, list_strategies
from hwnas.search.options import Option, parse_pairs, validate_options
from hwnas.space import list_spaces

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _help(capsys, *args):
    assert main([*args, "--help"]) == 0
    return capsys.readouterr().out


def test_every_registered_name_is_in_the_cli(capsys):
    assert main(["spaces", "--json"]) == 0
    listed = capsys.readouterr().out
    for name in list_spaces():
        assert f'"name": "{name}"' in listed
    assert main(["strategies"]) == 0
    strategies = capsys.readouterr().out
    search = " ".join(_help(capsys, "search").split())  # help text wraps: compare with whitespace folded
    for name in list_strategies():
        assert name in strategies and name in search
        for opt in get_strategy(name).options:
            assert opt.name in strategies
    for name in list_spaces():
        assert name in search
    profile = " ".join(_help(capsys, "profile").split())
    for name in list_profilers():
        assert name in profile and name in search
    export = " ".join(_help(capsys, "export").split())
    for name in list_formats():
        assert name in export
    for name in DATA_SOURCES.names():
        assert name in search
    imp = " ".join(_help(capsys, "lut", "import").split())
    for name in IMPORTERS.names():
        assert name in imp


def test_option_parsing_and_validation():
    o = Option("population", int, 50, "archs per generation", min=2)
    assert o.parse("20") == 20 and o.parse(7) == 7 and o.kind == "int >= 2"
    for bad in ("x", "1", 2.5, True):
        with pytest.raises(ValueError, match="int >= 2"):
            o.parse(bad)
    f = Option("p", float, 0.1, "", min=0, max=1)
    assert f.parse("0.25") == 0.25 and f.kind == "float in [0, 1]"
    with pytest.raises(ValueError):
        f.parse("1.5")
    b = Option("flag", bool, False, "")
    assert b.parse("true") is True and b.parse("0") is False
    c = Option("mode", str, "a", "", choices=("a", "b"))
    with pytest.raises(ValueError, match=r"str in \{a, b\}"):
        c.parse("z")
    assert validate_options("s", [o], {}) == {"population": 50}
    with pytest.raises(OptionError, match=r"unknown option 'pop' for strategy 's'; valid: population \(int >= 2\)"):
        validate_options("s", [o], {"pop": 3})
    assert parse_pairs(["population=20", "topk = 5"]) == {"population": "20", "topk": "5"}
    for bad in (["population"], ["=3"], ["a=1", "a=2"]):
        with pytest.raises(OptionError):
            parse_pairs(bad)


def test_hidden_aliases_map_to_one_name():
    keep = Option("keep", int, 2, "candidates kept per block", min=1, aliases=("E",))
    assert validate_options("coordinate", [keep], {"E": "3"}) == {"keep": 3}
    assert validate_options("coordinate", [keep], {"keep": 4}) == {"keep": 4}
    with pytest.raises(OptionError, match="given twice"):
        validate_options("coordinate", [keep], {"E": 3, "keep": 4})
    with pytest.raises(OptionError, match=r"valid: keep \(int >= 1\)$"):  # the alias stays hidden
        validate_options("coordinate", [keep], {"K": 3})


def test_one_name_for_one_thing_across_strategies():
    """The learning rates and cost weights are spelled the same wherever they exist; the paper's symbols stay as
    hidden aliases."""
    from hwnas.search import get_strategy, list_strategies

    names = {s: {o.name for o in get_strategy(s).options} for s in list_strategies()}
    assert {"lr", "arch_lr", "cost_weight", "batch_size"} <= names["probabilistic"] & names["hournas"]
    assert not ({"alpha", "beta", "alpha_lr", "T", "P", "Q", "E", "p", "pp_batch"} & set().union(*names.values()))
    assert get_strategy("probabilistic").validate({"beta": 1})["cost_weight"] == 1.0
    assert get_strategy("coordinate").validate({"T": 2, "E": 3}) == {"passes": 2, "shared_epochs": 1,
                                                                     "tune_epochs": 1, "keep": 3}


def test_strategy_rejects_unknown_python_keyword():
    with pytest.raises(OptionError, match="unknown option 'population' for strategy 'random'"):
        get_strategy("random").validate({"population": 10})


OPT_ERRORS = {"popu=3": "unknown option 'popu' for strategy 'evolution'; valid: population (int >= 2)",
              "population=many": "option population=many for strategy 'evolution' must be int >= 2; valid: population",
              "mutation_prob=2": "must be float in [0, 1]",
              "population": "is not KEY=VALUE"}


@pytest.mark.parametrize("opt,needle", OPT_ERRORS.items())
def test_search_opt_errors_are_one_line(tmp_path, opt, needle):
    env = dict(os.environ, HWNAS_CACHE=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-m", "hwnas", "search", "--opt", opt, "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert not (tmp_path / "cache" / "luts").exists() or not any((tmp_path / "cache" / "luts").iterdir())


@pytest.mark.parametrize("args,needle", [
    (["--latency", "0.1ms"], "latency <= 0.1ms cannot be met in space 'proxyless'"),
    (["--flops", "1M"], "smallest achievable flops is"),
    (["--params", "90M.."], "largest achievable params is"),
])
def test_infeasible_bound_fails_before_any_profiling_or_training(tmp_path, args, needle):
    cache = tmp_path / "empty-cache"
    env = dict(os.environ, HWNAS_CACHE=str(cache))
    r = subprocess.run([sys.executable, "-m", "hwnas", "search", *args, "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    made = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert made == [], f"nothing may be profiled or trained before the check: {made}"
    assert not (tmp_path / "o").exists()


def test_only_one_place_creates_onnxruntime_sessions():
    pattern = re.compile(r"InferenceSession\(")
    hits = [str(p.relative_to(ROOT)) for d in ("hwnas", "benchmarks", "tests") for p in (ROOT / d).rglob("*.py")
            if p.name != "test_house.py" and pattern.search(p.read_text())]
    assert hits == ["hwnas/profilers/ort_backend.py"]


def test_cli_modules_do_not_import_each_other_in_a_circle():
    """Command modules import the group from ``cli/app.py``; only ``cli/main.py`` imports the commands."""
    for p in (ROOT / "hwnas" / "cli").glob("*_cmds.py"):
        text = p.read_text()
        assert "hwnas.cli.main" not in text and "from hwnas.cli import" not in text, p.name


def test_nothing_below_cli_imports_click_or_rich_console():
    for p in (ROOT / "hwnas").rglob("*.py"):
        if "cli" in p.relative_to(ROOT / "hwnas").parts:
            continue
        text = p.read_text()
        assert not re.search(r"^\s*(import click|from click|from rich)", text, re.M), p
