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


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Two tiny random Llama checkpoints over the bAbI word vocabulary, saved with
    save_pretrained: "slm" (seed 0, the default sizes) and "llm" (seed 1, wider, 2 layers).
    Built once per session; the profiler's tests load them by path like real checkpoints."""
    from profiler.cmd_tiny import SIZES
    from profiler.tiny import save_tiny_model

    root = tmp_path_factory.mktemp("tiny_models")
    return {"slm": save_tiny_model(root / "slm", seed=0, **SIZES["slm"]),
            "llm": save_tiny_model(root / "llm", seed=1, **SIZES["llm"])}
