"""`cryptoradar init`: write a commented starting config with the alert channels the user picks.

The file is the packaged defaults (so every section is there, with its comments) plus the chosen
channels under `alerts.channels`. Secrets are never asked for or written: each channel reads them from
`${VARS}`, which the user puts in `.env` (see .env.example) or the environment.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cryptoradar.config import DEFAULT_CONFIG_PATH
from cryptoradar.config.alerts import ChannelType

# The channels `init` can add, each as its YAML under `alerts.channels` and the variables it reads.
# console and log are always there (AlertsConfig keeps them), so they are not offered.
_CHANNELS: dict[ChannelType, tuple[str, tuple[str, ...]]] = {
    ChannelType.TELEGRAM: (
        """\
    telegram:
      type: telegram
      bot_token: ${TELEGRAM_BOT_TOKEN}  # from @BotFather
      chat_id: ${TELEGRAM_CHAT_ID}      # a user, group (negative) or @channel id
""",
        ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID"),
    ),
    ChannelType.DISCORD: (
        """\
    discord:
      type: discord
      webhook_url: ${DISCORD_WEBHOOK_URL}  # Server Settings > Integrations > Webhooks
""",
        ("DISCORD_WEBHOOK_URL",),
    ),
    ChannelType.EMAIL: (
        """\
    email:
      type: email
      host: ${SMTP_HOST}
      port: 587                 # 465 with security: tls
      security: starttls        # starttls, tls or none
      username: ${SMTP_USERNAME}
      password: ${SMTP_PASSWORD}
      sender: ${ALERT_EMAIL_FROM}
      recipients: ["${ALERT_EMAIL_TO}"]
""",
        ("SMTP_HOST", "SMTP_USERNAME", "SMTP_PASSWORD", "ALERT_EMAIL_FROM", "ALERT_EMAIL_TO"),
    ),
    ChannelType.WEBHOOK: (
        """\
    webhook:
      type: webhook
      url: ${ALERT_WEBHOOK_URL}
      secret: ${ALERT_WEBHOOK_SECRET}  # signs each POST (Standard Webhooks headers)
""",
        ("ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_SECRET"),
    ),
    ChannelType.APPRISE: (
        """\
    apprise:
      type: apprise
      urls: ["${APPRISE_URL}"]  # e.g. ntfy://ntfy.sh/my-topic, any Apprise URL
""",
        ("APPRISE_URL",),
    ),
}
OFFERED = tuple(_CHANNELS)


def render_config(channels: tuple[ChannelType, ...]) -> str:
    """The packaged defaults with `channels` added and routed to by default (next to the console)."""
    picked = [c for c in OFFERED if c in channels]
    alerts = "  # console and log are always defined; the channels below are added to them.\n"
    if picked:
        alerts += "  channels:\n" + "".join(_CHANNELS[c][0] for c in picked)
    targets = ", ".join(["console", *picked])
    alerts += (
        "  # Where alerts go when no route matches; routes and silences: docs/channels.md.\n"
        f"  default_channels: [{targets}]\n"
        "  # routes:\n"
        "  #   - matchers: ['severity=~\"high|critical\"']\n"
        f"  #     channels: [{targets}]\n"
    )
    lines = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").splitlines(keepends=True)
    header = [
        "# cryptoradar configuration, written by `cryptoradar init`. Check it with\n",
        "# `cryptoradar config check <this file>`. ${VAR} values come from the environment or a .env file\n",
        "# in the working directory (or --env-file); the environment wins.\n",
    ]
    body = [line for line in lines if not line.startswith("# cryptoradar packaged defaults")]
    if "alerts:\n" not in body:
        body.append("alerts:\n")
    at = body.index("alerts:\n") + 1
    return "".join([*header, *body[:at], alerts, *body[at:]])


def _ask_channels() -> tuple[ChannelType, ...]:
    names = ", ".join(OFFERED)
    while True:
        answer = typer.prompt(f"Channels to add ({names}; comma-separated, empty for none)", default="")
        chosen = [part.strip().lower() for part in answer.split(",") if part.strip()]
        unknown = [c for c in chosen if c not in OFFERED]
        if not unknown:
            return tuple(ChannelType(c) for c in chosen)
        typer.echo(f"unknown channel {', '.join(unknown)}; pick from {names}", err=True)


def register(app: typer.Typer, console: Console, err_console: Console) -> None:
    @app.command()
    def init(
        path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("cryptoradar.yaml"),
        channel: Annotated[
            list[ChannelType] | None,
            typer.Option(
                help="A channel to add (repeatable); without any, asked for when run in a terminal.",
            ),
        ] = None,
        force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
    ) -> None:
        """Write a commented config with the alert channels you pick (secrets stay in .env)."""
        if channel is None:
            channel = list(_ask_channels()) if sys.stdin.isatty() else []
        for bad in (c for c in channel if c not in OFFERED):
            console.print(f"{bad} is always configured; nothing to add for it", highlight=False)
        picked = tuple(c for c in OFFERED if c in channel)
        try:
            with path.open("w" if force else "x", encoding="utf-8") as out:
                out.write(render_config(picked))
        except FileExistsError:
            err_console.print(
                f"init: {path} exists; pass --force to overwrite it", markup=False, highlight=False
            )
            raise typer.Exit(1) from None
        except OSError as e:
            err_console.print(
                f"init: cannot write {path}: {e.strerror}; pick a writable path",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(1) from None
        variables = [v for c in picked for v in _CHANNELS[c][1]]
        console.print(
            f"wrote {path} with channels: {', '.join(['console', 'log', *picked])}", highlight=False
        )
        if variables:
            console.print(
                "set these in .env (or the environment), then run `cryptoradar config check "
                f"{path}`: {', '.join(variables)}",
                highlight=False,
                soft_wrap=True,
            )
