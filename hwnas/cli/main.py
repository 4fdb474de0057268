"""``hwnas`` entry point.  The CLI only parses, makes one library call and renders.

User mistakes (click usage errors, :class:`HwnasError`) become one line on stderr and exit code 2;
Ctrl-C exits 130 after the command has saved what it had.
"""

from __future__ import annotations

import sys

import click

from hwnas.cli.plugins import load_plugins

#: plugins first: the commands list the runners, formats and runner options registered when they are built
PLUGIN_ERROR = load_plugins()

from hwnas.cli import export_cmds, lut_cmds, search_cmds, space_cmds, train_cmds  # noqa: E402,F401  (commands)
from hwnas.cli.app import cli  # noqa: E402
from hwnas.errors import HwnasError, Interrupted  # noqa: E402

_NoArgs = getattr(click.exceptions, "NoArgsIsHelpError", ())


def main(argv: list[str] | None = None) -> int:
    if PLUGIN_ERROR:
        click.echo(f"error: {PLUGIN_ERROR}", err=True)
        return 2
    try:
        rv = cli.main(args=argv, prog_name="hwnas", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except _NoArgs as e:  # bare `hwnas` or a bare group: show its help
        click.echo(e.format_message())
        return 0
    except click.UsageError as e:
        cmd = f" {e.ctx.command_path.split(' ', 1)[1]}" if e.ctx and " " in e.ctx.command_path else ""
        click.echo(f"error: {e.format_message()} (see `hwnas{cmd} --help`)", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return 130
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        return e.exit_code
    except Interrupted as e:
        click.echo(str(e), err=True)
        return e.exit_code
    except HwnasError as e:
        click.echo(f"error: {e}", err=True)
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted; what was done is saved", err=True)
        return 130


def entry() -> None:
    sys.exit(main())
