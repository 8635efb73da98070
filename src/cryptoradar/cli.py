"""Command line: `cryptoradar --help`."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Real-time crypto market alerts over WebSockets.")


def main() -> None:
    app()
