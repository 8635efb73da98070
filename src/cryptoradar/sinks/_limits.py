"""Size limits shared by the sinks: greedy packing on alert boundaries and safe truncation."""

from __future__ import annotations

from collections.abc import Callable

from cryptoradar.notifications import Notification, RenderedAlert

ELLIPSIS = "…"
_SAFE_CUT_WINDOW = 0.25
"""Look this far back (fraction of the limit) for whitespace to cut at, so a word is not chopped."""


def pack_greedy(
    channel: str,
    alerts: list[RenderedAlert],
    cost: Callable[[RenderedAlert], int],
    budget: int,
    *,
    separator_cost: int = 0,
    max_alerts: int | None = None,
) -> list[Notification]:
    """Split `alerts`, in order, into the fewest notifications whose summed `cost` (plus
    `separator_cost` between neighbours) stays within `budget` and whose length stays within `max_alerts`.

    Greedy filling is optimal for an order-preserving split with additive costs. An alert never straddles
    two notifications; one costing more than `budget` on its own goes alone (callers truncate first so
    this does not happen).
    """
    groups: list[list[RenderedAlert]] = []
    used = 0
    for alert in alerts:
        alert_cost = cost(alert)
        current = groups[-1] if groups else None
        if (
            current is not None
            and used + separator_cost + alert_cost <= budget
            and (max_alerts is None or len(current) < max_alerts)
        ):
            current.append(alert)
            used += separator_cost + alert_cost
        else:
            groups.append([alert])
            used = alert_cost
    return [Notification(channel=channel, alerts=tuple(group)) for group in groups]


def truncate_text(text: str, limit: int) -> str:
    """`text` cut to at most `limit` code points, ending in an ellipsis, at whitespace when one is near
    the cut so words (and markdown/markup tokens, which contain no spaces) stay whole."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return ELLIPSIS[:limit]
    cut = limit - len(ELLIPSIS)
    space = max(text.rfind(" ", 0, cut + 1), text.rfind("\n", 0, cut + 1))
    if space >= cut * (1 - _SAFE_CUT_WINDOW):
        cut = space
    return text[:cut].rstrip() + ELLIPSIS
