"""Alert pipeline, routing and channels.

Channels are a name -> settings mapping; the settings are a discriminated union on `type`, so a typo in
a channel's keys fails at load time. Routing uses Alertmanager's vocabulary: `matchers` written as
`name="value"`, `name!="value"`, `name=~"regex"`, `name!~"regex"` over the alert's labels (detector,
kind, symbol, symbol_group, severity, timeframe, direction and the signal's own labels).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from cryptoradar.config.base import Section, require_at_most


class ChannelType(StrEnum):
    CONSOLE = "console"
    LOG = "log"
    DISCORD = "discord"
    TELEGRAM = "telegram"
    EMAIL = "email"
    WEBHOOK = "webhook"
    APPRISE = "apprise"


class MatchOp(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


class Matcher(Section):
    """One label test. Regexes are anchored (full match), as in Alertmanager."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
    op: MatchOp
    value: str

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            try:
                re.compile(self.value)
            except re.error as e:
                raise ValueError(f"matcher {self.name}{self.op}: bad regex {self.value!r}: {e}") from e
        return self

    def __str__(self) -> str:
        return f'{self.name}{self.op.value}"{self.value}"'


_EMAIL_SEND_SLACK_S = 5.0
"""Added to an e-mail channel's retry budget for its default `send_timeout_s`."""
_MATCHER_TEXT = re.compile(
    r'^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|(\S*))\s*$'
)


def parse_matcher(text: str) -> Matcher:
    """Parse `name op "value"` (quotes optional for values without spaces); raises ValueError with the fix."""
    m = _MATCHER_TEXT.match(text)
    if m is None:
        raise ValueError(
            f'cannot parse matcher {text!r}; write it as name="value", name!="value", name=~"regex"'
        )
    quoted, bare = m.group(3), m.group(4)
    value = quoted.replace('\\"', '"') if quoted is not None else bare or ""
    return Matcher(name=m.group(1), op=MatchOp(m.group(2)), value=value)


def _coerce_matchers(value: object) -> object:
    if isinstance(value, list | tuple):
        return tuple(parse_matcher(v) if isinstance(v, str) else v for v in value)
    return value


class RateLimitWindow(Section):
    """At most `limit` requests per `window_s` (a token bucket of `limit` refilled evenly over the window)."""

    limit: int = Field(gt=0)
    window_s: float = Field(gt=0)


class _ChannelBase(Section):
    enabled: bool = True
    rate_limits: tuple[RateLimitWindow, ...] | None = None
    """None: the channel type's defaults (see `DEFAULT_RATE_LIMITS`)."""
    send_timeout_s: float = Field(default=30.0, gt=0)
    """A send that takes longer counts as a transient failure, so a hung remote cannot stall the channel."""
    fallback_channels: tuple[str, ...] | None = None
    """Where this channel's alerts are rerouted when it fails over; None: `alerts.fallback_channels`."""


class ConsoleChannel(_ChannelBase):
    type: Literal[ChannelType.CONSOLE] = ChannelType.CONSOLE


class LogChannel(_ChannelBase):
    type: Literal[ChannelType.LOG] = ChannelType.LOG
    path: Path | None = None
    """JSON lines file; None logs through structlog."""


class DiscordChannel(_ChannelBase):
    type: Literal[ChannelType.DISCORD] = ChannelType.DISCORD
    webhook_url: SecretStr
    username: str = Field(default="cryptoradar", min_length=1, max_length=80)
    timeout_s: float = Field(default=10.0, gt=0)


class TelegramChannel(_ChannelBase):
    type: Literal[ChannelType.TELEGRAM] = ChannelType.TELEGRAM
    bot_token: SecretStr
    chat_id: str
    api_base_url: str = "https://api.telegram.org"
    timeout_s: float = Field(default=10.0, gt=0)


class EmailChannel(_ChannelBase):
    type: Literal[ChannelType.EMAIL] = ChannelType.EMAIL
    host: str
    port: int = Field(default=587, gt=0, lt=65536)
    username: str = ""
    password: SecretStr = SecretStr("")
    security: Literal["starttls", "tls", "none"] = "starttls"
    sender: str
    recipients: tuple[str, ...] = Field(min_length=1)
    timeout_s: float = Field(default=10.0, gt=0)
    """One SMTP attempt (connect, TLS, every command) ends after this long."""
    attempts: int = Field(default=3, ge=1)
    retry_delay_s: float = Field(default=5.0, ge=0)

    @property
    def retry_budget_s(self) -> float:
        """The longest a send can take: every attempt timing out, with the pauses between them."""
        return self.attempts * self.timeout_s + (self.attempts - 1) * self.retry_delay_s

    @model_validator(mode="after")
    def _send_timeout_covers_retries(self) -> EmailChannel:
        # The fixed 30 s default cut off the third of 3 x 10 s attempts (+ 2 x 5 s): unless set, the
        # channel's send timeout follows the sink's own retries, with a little slack.
        if "send_timeout_s" not in self.model_fields_set:
            object.__setattr__(self, "send_timeout_s", self.retry_budget_s + _EMAIL_SEND_SLACK_S)
        elif self.send_timeout_s < self.retry_budget_s:
            raise ValueError(
                f"send_timeout_s ({self.send_timeout_s:g}) is shorter than the e-mail retries, attempts x "
                f"timeout_s + (attempts - 1) x retry_delay_s = {self.retry_budget_s:g} s; raise it or "
                "leave it unset (it then follows the retries)"
            )
        return self


class WebhookChannel(_ChannelBase):
    """Generic JSON webhook signed with the Standard Webhooks layout (id, timestamp, signature headers)."""

    type: Literal[ChannelType.WEBHOOK] = ChannelType.WEBHOOK
    url: SecretStr
    secret: SecretStr
    id_header: str = "webhook-id"
    timestamp_header: str = "webhook-timestamp"
    signature_header: str = "webhook-signature"
    timeout_s: float = Field(default=10.0, gt=0)


class AppriseChannel(_ChannelBase):
    type: Literal[ChannelType.APPRISE] = ChannelType.APPRISE
    urls: tuple[SecretStr, ...] = Field(min_length=1)


ChannelConfig = Annotated[
    ConsoleChannel
    | LogChannel
    | DiscordChannel
    | TelegramChannel
    | EmailChannel
    | WebhookChannel
    | AppriseChannel,
    Field(discriminator="type"),
]

DEFAULT_RATE_LIMITS: dict[ChannelType, tuple[RateLimitWindow, ...]] = {
    # Observed per-webhook bucket (5 per ~2 s) and ~30 messages/min per Discord channel.
    ChannelType.DISCORD: (RateLimitWindow(limit=5, window_s=2), RateLimitWindow(limit=30, window_s=60)),
    # About 1 msg/s per chat and 20 msg/min per group (Bot FAQ).
    ChannelType.TELEGRAM: (RateLimitWindow(limit=1, window_s=1), RateLimitWindow(limit=20, window_s=60)),
    ChannelType.EMAIL: (RateLimitWindow(limit=1, window_s=1),),
    ChannelType.WEBHOOK: (RateLimitWindow(limit=10, window_s=1),),
    ChannelType.APPRISE: (RateLimitWindow(limit=1, window_s=1),),
    ChannelType.CONSOLE: (),
    ChannelType.LOG: (),
}


class RouteConfig(Section):
    """Alerts whose labels satisfy every matcher go to `channels`.

    Routes are tried in order; the first match wins unless it sets `continue: true`. `group_by` labels
    form the group key: alerts of one route+channel with the same key that arrive within `group_wait_s`
    of the group's first alert are sent together.
    """

    model_config = ConfigDict(populate_by_name=True)

    matchers: tuple[Matcher, ...] = ()
    channels: tuple[str, ...] = Field(min_length=1)
    continue_: bool = Field(default=False, alias="continue")
    group_by: tuple[str, ...] | None = None
    """None: `AlertsConfig.group_by`."""
    group_wait_s: float | None = Field(default=None, ge=0)
    """None: `AlertsConfig.group_wait_s`."""

    _matchers = field_validator("matchers", mode="before")(_coerce_matchers)


class CooldownRule(Section):
    """How long one (detector, symbol, kind) stays quiet after an alert, in event time.

    With `reentry_move_pct`, a signal inside the cooldown still passes when its `entry` moved more than
    that percentage from the last alert's entry; and, until `history_s` after the last alert, a signal in
    the same direction whose entry is within that percentage is a duplicate setup.
    """

    cooldown_s: float = Field(ge=0)
    reentry_move_pct: float | None = Field(default=None, gt=0)
    history_s: float | None = Field(default=None, ge=0)


def _default_cooldowns() -> dict[str, CooldownRule]:
    return {
        "momentum": CooldownRule(cooldown_s=1800),
        "confluence": CooldownRule(cooldown_s=300, reentry_move_pct=0.3, history_s=1800),
        "large_liquidation": CooldownRule(cooldown_s=300),
        "whale_trade": CooldownRule(cooldown_s=600),
        "liquidation_storm": CooldownRule(cooldown_s=300),
        "whale_cluster": CooldownRule(cooldown_s=600),
        "radar": CooldownRule(cooldown_s=300),
    }


def _default_channels() -> dict[str, ChannelConfig]:
    return {"console": ConsoleChannel(), "log": LogChannel()}


def _keep_default_channels(value: object) -> object:
    """User channels are added to the defaults (console, log): one of the same name replaces a default,
    and `name: null` removes it, so adding Telegram never silently drops the console and log."""
    if not isinstance(value, dict):
        return value
    merged: dict[Any, Any] = {**_default_channels(), **value}
    return {name: channel for name, channel in merged.items() if channel is not None}


class OperatorAlertsConfig(Section):
    """Operator alerts (see `alerts.operator`): sent straight to `AlertsConfig.fallback_channels`."""

    connections_down_after_s: float = Field(default=300.0, gt=0)
    """A source whose connections have all been down this long raises an operator alert."""
    store_failures_before_alert: int = Field(default=3, ge=1)
    """Consecutive failed store writes that make the store "unwritable"."""
    repeat_interval_s: float = Field(default=14400.0, gt=0)
    """An incident still open that triggers again is re-announced after this long, not before."""
    poll_interval_s: float = Field(default=5.0, gt=0)
    """How often time-based conditions (connections down) are checked."""
    send_attempts: int = Field(default=3, ge=1)
    """Attempts per fallback channel for one operator notice (transient errors, with backoff)."""


class EnrichmentConfig(Section):
    """Context added to each alert (see `alerts.enrich`)."""

    hit_rates_db: Path | None = None
    """SQLite file written by `cryptoradar backtest --stats-db`; None or missing: the hit rate is "n/a"."""
    hit_rate_horizon: str = "1h"
    """Which backtest horizon the "hit rate of similar setups" line quotes (one the backtest scored)."""
    hit_rate_min_signals: int = Field(default=20, ge=1)
    """Fewer scored signals than this, even after rolling up symbol group and setup bucket: "n/a"."""


class AlertsConfig(Section):
    channels: dict[str, ChannelConfig] = Field(default_factory=_default_channels)
    """Added to the defaults `console` and `log`; `console: null` removes one (see `_keep_default_channels`)."""
    routes: tuple[RouteConfig, ...] = ()
    default_channels: tuple[str, ...] = ("console",)
    """Where an alert goes when no route matches."""
    fallback_channels: tuple[str, ...] = ("log",)
    """Operator alerts (connections down, REST ban, a channel disabled, the store unwritable) go here,
    for example a log file and email; a disabled channel itself is skipped. Also where a failed channel's
    alerts are rerouted (channel failover), unless the channel sets its own `fallback_channels`."""
    symbol_groups: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Group name -> symbols; matchable as the `symbol_group` label."""
    cooldowns: dict[str, CooldownRule] = Field(default_factory=_default_cooldowns)
    """Keyed by signal kind, else by detector name; neither: no cooldown."""
    group_by: tuple[str, ...] = ("detector", "kind", "severity")
    group_wait_s: float = Field(default=0.5, ge=0)
    """Momentum already groups a bar close's symbols; 0.5 s more here keeps bar close -> delivered under the
    2 s target with room (docs/performance.md) while alerts arriving together still share a message."""
    max_alerts_per_group: int = Field(default=25, gt=0)
    retry_initial_s: float = Field(default=1.0, gt=0)
    retry_max_s: float = Field(default=300.0, gt=0)
    failover_after_s: float | None = Field(default=600.0, gt=0)
    """A channel failing with transient errors (5xx, timeouts) this long has its pending alerts rerouted
    to its fallback channels; a permanent error (401/403/404) reroutes at once. None: only permanent
    errors reroute."""
    retention_days: float = Field(default=7.0, gt=0)
    retention_interval_s: float = Field(default=3600.0, gt=0)
    silence_refresh_s: float = Field(default=5.0, gt=0)
    """How often a running service reloads silences from the store, so ones made by the CLI or another
    instance take effect without a restart."""
    operator: OperatorAlertsConfig = Field(default_factory=OperatorAlertsConfig)
    enrichment: EnrichmentConfig = Field(default_factory=EnrichmentConfig)
    templates_dir: Path | None = None
    """Overrides: `<kind>.<channel_type>.j2`, `<kind>.j2` or `default.j2` found here win over the packaged ones."""

    _channels = field_validator("channels", mode="before")(_keep_default_channels)

    def fallbacks_of(self, channel: str) -> tuple[str, ...]:
        """Where `channel`'s alerts go when it fails over (never itself)."""
        own = self.channels[channel].fallback_channels
        return tuple(c for c in (self.fallback_channels if own is None else own) if c != channel)

    @model_validator(mode="after")
    def _channels_exist(self) -> AlertsConfig:
        names = set(self.channels)
        referenced = [("alerts.default_channels", c) for c in self.default_channels]
        referenced += [("alerts.fallback_channels", c) for c in self.fallback_channels]
        referenced += [
            (f"alerts.routes[{i}].channels", c) for i, r in enumerate(self.routes) for c in r.channels
        ]
        for name, settings in self.channels.items():
            fallbacks = settings.fallback_channels or ()
            if name in fallbacks:
                raise ValueError(
                    f"alerts.channels.{name}.fallback_channels names the channel itself; "
                    "name other channels to reroute its alerts to"
                )
            referenced += [(f"alerts.channels.{name}.fallback_channels", c) for c in fallbacks]
        for where, channel in referenced:
            if channel not in names:
                raise ValueError(
                    f"{where} names channel {channel!r}, which is not defined (defined: "
                    f"{', '.join(sorted(names))}); name one of those in {where} or define {channel!r} "
                    "under alerts.channels"
                )
        return self

    @model_validator(mode="after")
    def _retry_range(self) -> AlertsConfig:
        require_at_most("alerts.retry_initial_s", self.retry_initial_s, "retry_max_s", self.retry_max_s)
        return self
