import json
import subprocess
import sys

import pytest

from hwnas.cli.main import main


def run_cli(*args):
    p = subprocess.run([sys.executable, "-m", "hwnas", *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def test_count_json_mobilenetv2(capsys):
    assert main(["count", "--space", "mobilenetv2", "--arch", "mobilenetv2", "--input", "224", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["macs"] == 300_774_272 and d["params"] == 3_504_872
    assert {"macs", "params", "bitops", "memory_bytes", "intensity", "layers"} <= set(d)
    assert len(d["layers"]) == 53


def test_count_table(capsys):
    assert main(["count", "--space", "resnet", "--arch", "resnet18"]) == 0
    text = capsys.readouterr().out
    assert "1,814,073,344" in text
    assert "s1b1.conv1.0" in text and "units." not in text  # the space's layer names, as predict and result.yaml
    assert all(len(line) <= 80 for line in text.splitlines() if line.startswith(("┃", "│", "┏")))


def test_spaces_json(capsys):
    assert main(["spaces", "--json"]) == 0
    names = {r["name"] for r in json.loads(capsys.readouterr().out)}
    assert {"proxyless", "fbnet", "spos", "fpnas", "resnet", "mobilenetv2"} <= names


@pytest.mark.parametrize("args,needle", [
    (["count", "--space", "nope", "--arch", "x"], "unknown space 'nope'"),
    (["count", "--space", "fbnet", "--arch", "fbnet_a", "--input", "-3"], "--input"),
    (["count", "--space", "proxyless", "--arch", "k3_e3," * 20 + "k4_e9"], "unknown choice 'k4_e9'"),
])
def test_bad_input_one_line_no_traceback(args, needle):
    code, out, err = run_cli(*args)
    assert code != 0
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0]


def test_every_cli_option_has_help_text():
    import click

    from hwnas.cli.main import cli

    def walk(cmd, path):
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])
        else:
            for p in cmd.params:
                if isinstance(p, click.Option) and not p.hidden and not (p.help or "").strip():
                    yield f"hwnas {' '.join(path)} {p.opts[0]}"

    missing = list(walk(cli, []))
    assert not missing, missing
