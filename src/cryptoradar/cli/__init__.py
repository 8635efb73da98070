"""Command line: `cryptoradar --help`.

Each command is a thin shell: it loads config, builds what it needs through `app`, and renders with rich.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cryptoradar.config import load_settings, redacted_dump
from cryptoradar.core.errors import ConfigError

app = typer.Typer(no_args_is_help=True, help="Real-time crypto market alerts over WebSockets.")
config_app = typer.Typer(no_args_is_help=True, help="Inspect and validate configuration.")
app.add_typer(config_app, name="config")

console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config file (default: packaged defaults).")
]


@config_app.command("check")
def config_check(
    file: Annotated[
        Path | None, typer.Argument(help="YAML config file (default: packaged defaults).")
    ] = None,
) -> None:
    """Validate a config file and print the effective config with secrets redacted."""
    try:
        settings = load_settings(file)
    except ConfigError as e:
        err_console.print(f"[red]config error[/red]: {e}")
        raise typer.Exit(2) from None
    console.print_json(json.dumps(redacted_dump(settings)))


def main() -> None:
    app()
