"""Fixtures shared by the procurement tests: the frozen clock, a buyer, its published tender.

A module freezes the clock with ``pytestmark = pytest.mark.usefixtures("frozen_clock")``
(the root conftest resets the clock after every test); a module that wants another tender
defines its own ``tender`` fixture."""

from __future__ import annotations

import pytest

from core import clock
from tests.procurement.factories import NOW, Buyer, make_buyer, published_tender


@pytest.fixture
def frozen_clock():
    clock.set_time(NOW)
    return NOW


@pytest.fixture
def buyer() -> Buyer:
    return make_buyer()


@pytest.fixture
def tender(buyer):
    """Published at NOW: enquiries end NOW+10d, deadline NOW+30d, opening an hour later."""
    return published_tender(buyer)
