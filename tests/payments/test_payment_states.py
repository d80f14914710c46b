"""The payment status machine only moves forward (pure)."""

from __future__ import annotations

import itertools

import pytest

from payments.states import (
    PAYMENT_RANK,
    PAYMENT_TRANSITIONS,
    PaymentStatus,
    can_transition,
    can_transition_payment,
)

S = PaymentStatus


@pytest.mark.parametrize(("current", "target"), [
    (S.CREATED, S.REQUIRES_ACTION), (S.CREATED, S.PROCESSING), (S.CREATED, S.SUCCEEDED),
    (S.CREATED, S.FAILED), (S.CREATED, S.CANCELED),
    (S.REQUIRES_ACTION, S.PROCESSING), (S.REQUIRES_ACTION, S.SUCCEEDED), (S.REQUIRES_ACTION, S.FAILED),
    (S.REQUIRES_ACTION, S.CANCELED),
    (S.PROCESSING, S.SUCCEEDED), (S.PROCESSING, S.FAILED), (S.PROCESSING, S.CANCELED),
    (S.SUCCEEDED, S.PARTIALLY_REFUNDED), (S.SUCCEEDED, S.REFUNDED),
    (S.PARTIALLY_REFUNDED, S.REFUNDED),
])
def test_forward_moves_are_allowed(current, target):
    assert can_transition_payment(current, target)
    assert can_transition(current.value, target.value)


@pytest.mark.parametrize(("current", "target"), [
    (S.SUCCEEDED, S.PROCESSING), (S.SUCCEEDED, S.FAILED), (S.SUCCEEDED, S.CANCELED), (S.PROCESSING, S.REQUIRES_ACTION),
    (S.PROCESSING, S.CREATED), (S.REFUNDED, S.SUCCEEDED), (S.PARTIALLY_REFUNDED, S.SUCCEEDED),
    (S.CREATED, S.REFUNDED), (S.PROCESSING, S.REFUNDED),
])
def test_backward_or_skipping_moves_are_refused(current, target):
    assert not can_transition_payment(current, target)
    assert not can_transition(current, target)


@pytest.mark.parametrize("terminal", [S.FAILED, S.CANCELED, S.REFUNDED])
def test_failed_canceled_and_refunded_are_terminal(terminal):
    assert all(not can_transition_payment(terminal, t) for t in S)


def test_every_transition_goes_up_in_rank_except_repeated_partial_refunds():
    for current, targets in PAYMENT_TRANSITIONS.items():
        for target in targets:
            if current == target == S.PARTIALLY_REFUNDED:
                continue
            assert PAYMENT_RANK[target] > PAYMENT_RANK[current], (current, target)


def test_the_table_covers_every_status_and_hold_checks_still_work():
    assert set(PAYMENT_TRANSITIONS) == set(S)
    assert can_transition("pending", "posted") and not can_transition("posted", "voided")
    assert not can_transition("pending", "succeeded")
    assert not any(can_transition_payment(a, b) and can_transition_payment(b, a)
                   for a, b in itertools.permutations(S, 2))
