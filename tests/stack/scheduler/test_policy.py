from __future__ import annotations

import pytest

from stack.scheduler.policy import (
    NO_DEADLINE,
    ChainMembership,
    ChainPolicy,
    FifoPolicy,
    PolicyKind,
    make_policy,
)
from stack.trace.records import Origin

MS = 1_000_000
HIGH = ChainMembership("critical", 10, "/cam", 50 * MS)
LOW = ChainMembership("logging", 1, "/aux", 500 * MS)
TIGHT = ChainMembership("tight", 5, "/a", 5 * MS)
LOOSE = ChainMembership("loose", 5, "/b", 500 * MS)


def test_higher_chain_priority_sorts_first():
    p = ChainPolicy()
    late_high = p.message_key((HIGH,), {"/cam": (0, 900 * MS)})
    early_low = p.message_key((LOW,), {"/aux": (0, 0)})
    assert late_high < early_low


def test_same_priority_orders_by_absolute_deadline():
    p = ChainPolicy()
    # /b started earlier but its budget is long; /a's deadline (100 + 5 ms) comes first.
    tight = p.message_key((TIGHT,), {"/a": (0, 100 * MS)})
    loose = p.message_key((LOOSE,), {"/b": (0, 0)})
    assert tight == (-5, 105 * MS)
    assert loose == (-5, 500 * MS)
    assert tight < loose


def test_callback_on_several_chains_takes_the_most_urgent():
    p = ChainPolicy()
    origins = {"/cam": Origin(0, 10 * MS), "/aux": Origin(0, 0)}
    assert p.message_key((LOW, HIGH), origins) == (-10, 60 * MS)
    # Same priority: the earlier deadline of the two wins.
    both = p.message_key((TIGHT, LOOSE), {"/a": (0, 0), "/b": (0, 0)})
    assert both == (-5, 5 * MS)


def test_input_without_lineage_has_no_deadline():
    assert ChainPolicy().message_key((HIGH,), {}) == (-10, NO_DEADLINE)
    assert ChainPolicy().message_key((), {"/cam": (0, 0)}) == (0, NO_DEADLINE)


def test_timer_key_uses_due_time_plus_budget():
    assert ChainPolicy().timer_key((LOW, HIGH), 7 * MS) == (-10, 57 * MS)


def test_fifo_gives_every_item_the_same_key():
    p = FifoPolicy()
    assert p.message_key((HIGH,), {"/cam": (0, 5)}) == p.message_key((), {}) == (0, 0)
    assert p.timer_key((HIGH,), 123) == (0, 0)


def test_stale_only_when_past_budget_on_every_chain():
    p = ChainPolicy()
    origins = {"/cam": Origin(0, 0), "/aux": Origin(0, 0)}
    assert p.stale((HIGH,), origins, 50 * MS) is None  # exactly at budget: still useful
    chain, age = p.stale((HIGH,), origins, 51 * MS)
    assert (chain.chain, age) == ("critical", 51 * MS)
    # Still within the logging chain's budget: kept for that chain.
    assert p.stale((HIGH, LOW), origins, 60 * MS) is None
    assert p.stale((HIGH,), {}, 10**12) is None  # no lineage: nothing to judge


def test_fifo_never_drops():
    assert FifoPolicy().stale((HIGH,), {"/cam": (0, 0)}, 10**12) is None


def test_make_policy_by_name_and_rejects_unknown():
    assert make_policy("fifo").kind is PolicyKind.FIFO
    assert make_policy("l4").kind is PolicyKind.CHAIN
    with pytest.raises(ValueError):
        make_policy("edf")


def test_work_still_ahead_counts_against_the_budget():
    p = ChainPolicy()
    origins = {"/cam": Origin(0, 0), "/aux": Origin(0, 0)}
    assert p.stale((HIGH,), origins, 30 * MS, {"critical": 20 * MS}) is None  # 50: just fits
    chain, age = p.stale((HIGH,), origins, 30 * MS, {"critical": 21 * MS})
    assert (chain.chain, age) == ("critical", 30 * MS)  # the age alone, for the report
    assert p.stale((HIGH,), origins, 30 * MS, {"logging": 10**12}) is None  # another chain's
    # Kept while the logging chain can still use it, however long the critical chain's work.
    assert p.stale((HIGH, LOW), origins, 30 * MS, {"critical": 10**12}) is None
    assert FifoPolicy().stale((HIGH,), origins, 30 * MS, {"critical": 10**12}) is None
