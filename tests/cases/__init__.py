"""Test data and reference helpers that a unit test module shares with its integration
tier (``tests/unit/test_X.py`` and ``tests/integration/test_X_*.py``): importable as
``cases.X`` because ``tests`` is on pytest's ``pythonpath``."""
