"""Shared fixtures."""

from __future__ import annotations

import pytest

from tests.scenario import Scenario


@pytest.fixture
def scenario() -> Scenario:
    return Scenario()
