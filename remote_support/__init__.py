"""remote-support: inventory-driven remote runner for IT support staff."""

__version__ = "0.1.0"
