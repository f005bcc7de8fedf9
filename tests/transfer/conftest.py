"""Fixtures for transfer tests: deterministic data (simulated camera captures: capture.py)."""

from __future__ import annotations

import random

import pytest


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20261129)
