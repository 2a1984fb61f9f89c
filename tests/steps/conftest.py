"""Fixtures for the step tests: the link-planting attacker of issue 11 (tests/attack_support.py)."""

from attack_support import attacker, sticky  # noqa: F401  (fixtures, used by name)
