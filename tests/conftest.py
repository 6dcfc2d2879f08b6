"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo dataset generated once per test session."""
    from rasterflow import demo

    root = tmp_path_factory.mktemp("demo")
    demo.generate(root)
    return root
