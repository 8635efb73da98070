from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cryptoradar.sinks._limits import ELLIPSIS, pack_greedy, truncate_text
from fakes.alerts import sample_alert


def test_pack_greedy_fills_in_order_and_respects_budget_and_count() -> None:
    alerts = [sample_alert(i) for i in range(1, 8)]
    costs = {1: 4, 2: 4, 3: 3, 4: 9, 5: 1, 6: 1, 7: 1}
    groups = pack_greedy("c", alerts, lambda a: costs[a.alert_id], 10, separator_cost=1, max_alerts=2)
    assert [[a.alert_id for a in n.alerts] for n in groups] == [[1, 2], [3], [4], [5, 6], [7]]
    assert all(n.channel == "c" for n in groups)


def test_pack_greedy_puts_an_oversized_alert_alone() -> None:
    alerts = [sample_alert(i) for i in range(1, 4)]
    groups = pack_greedy("c", alerts, lambda a: 50 if a.alert_id == 2 else 1, 10)
    assert [len(n.alerts) for n in groups] == [1, 1, 1]


def test_pack_greedy_of_nothing_is_nothing() -> None:
    assert pack_greedy("c", [], lambda a: 1, 10) == []


def test_truncate_cuts_at_whitespace_with_ellipsis() -> None:
    text = "alpha beta gamma delta epsilon"
    cut = truncate_text(text, 20)
    assert cut == "alpha beta gamma" + ELLIPSIS
    assert truncate_text(text, 100) == text


@given(st.text(), st.integers(min_value=1, max_value=200))
def test_truncate_never_exceeds_limit_and_keeps_a_prefix(text: str, limit: int) -> None:
    cut = truncate_text(text, limit)
    assert len(cut) <= limit
    if cut != text:
        assert cut.endswith(ELLIPSIS)
        assert text.startswith(cut.removesuffix(ELLIPSIS))
