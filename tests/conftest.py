"""Shared fixtures: hand-built tiny instances (see tests/hand.py)."""

import pytest

from .hand import hand_instance


@pytest.fixture
def hand():
    """2 users, 2 servers, interference "full": the hand-computed evaluator case."""
    return hand_instance("full")


@pytest.fixture
def hand_none():
    """The same 2 users and 2 servers with interference "none" (orthogonal cells)."""
    return hand_instance("none")
