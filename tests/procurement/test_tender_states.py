"""Tender state machine and clock-derived statuses (pure, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from procurement.states import (
    CANCELLABLE,
    LOT_TRANSITIONS,
    METHOD_LABELS,
    TENDER_STATUS_LABELS,
    TENDER_TRANSITIONS,
    LotStatus,
    Method,
    TenderStatus,
    can_transition,
    time_status,
)

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def _tender(status=TenderStatus.ENQUIRIES, enquiry_end=T0 + timedelta(days=5), deadline=T0 + timedelta(days=25)):
    return SimpleNamespace(status=status.value, enquiry_end=enquiry_end, submission_deadline=deadline)


def test_main_path_runs_from_draft_to_opened_in_order():
    path = [TenderStatus.DRAFT, TenderStatus.ENQUIRIES, TenderStatus.TENDERING,
            TenderStatus.AWAITING_OPENING, TenderStatus.OPENED]
    for current, nxt in zip(path, path[1:], strict=False):
        assert can_transition(current, nxt)


def test_draft_may_publish_straight_to_tendering_without_enquiry_period():
    assert can_transition(TenderStatus.DRAFT, TenderStatus.TENDERING)


@pytest.mark.parametrize("backwards", [
    (TenderStatus.TENDERING, TenderStatus.ENQUIRIES),
    (TenderStatus.AWAITING_OPENING, TenderStatus.TENDERING),
    (TenderStatus.OPENED, TenderStatus.AWAITING_OPENING),
    (TenderStatus.ENQUIRIES, TenderStatus.DRAFT),
    (TenderStatus.DRAFT, TenderStatus.OPENED),
])
def test_no_backwards_or_skipping_transitions(backwards):
    assert not can_transition(*backwards)


@pytest.mark.parametrize("status", sorted(CANCELLABLE))
def test_every_pre_award_state_can_be_cancelled(status):
    assert can_transition(status, TenderStatus.CANCELLED)


@pytest.mark.parametrize("status", [TenderStatus.CANCELLED, TenderStatus.COMPLETE, TenderStatus.UNSUCCESSFUL])
def test_terminal_states_have_no_exit(status):
    assert TENDER_TRANSITIONS[status] == set()


def test_lot_can_become_unsuccessful_but_not_come_back():
    assert LotStatus.UNSUCCESSFUL in LOT_TRANSITIONS[LotStatus.ACTIVE]
    assert LOT_TRANSITIONS[LotStatus.UNSUCCESSFUL] == set()


def test_every_status_and_method_has_a_label():
    assert set(TENDER_STATUS_LABELS) == set(TenderStatus)
    assert set(METHOD_LABELS) == set(Method)
    assert len(Method) == 6


def test_time_status_in_enquiry_period_until_it_ends():
    t = _tender()
    assert time_status(t, T0) == TenderStatus.ENQUIRIES
    assert time_status(t, t.enquiry_end - TICK) == TenderStatus.ENQUIRIES
    assert time_status(t, t.enquiry_end) == TenderStatus.TENDERING


def test_time_status_tendering_one_tick_before_deadline_and_awaiting_opening_at_it():
    t = _tender()
    assert time_status(t, t.submission_deadline - TICK) == TenderStatus.TENDERING
    assert time_status(t, t.submission_deadline) == TenderStatus.AWAITING_OPENING
    assert time_status(t, t.submission_deadline + timedelta(days=3)) == TenderStatus.AWAITING_OPENING


def test_time_status_without_enquiry_period_starts_tendering():
    t = _tender(status=TenderStatus.TENDERING, enquiry_end=None)
    assert time_status(t, T0) == TenderStatus.TENDERING


@pytest.mark.parametrize("status", [TenderStatus.DRAFT, TenderStatus.CANCELLED, TenderStatus.OPENED])
def test_time_status_leaves_non_time_driven_states_alone(status):
    t = _tender(status=status)
    assert time_status(t, t.submission_deadline + timedelta(days=1)) == status
