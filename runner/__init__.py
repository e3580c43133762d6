"""asyncparity: one YAML async scenario, three idiomatic programs, compared on one virtual clock."""

__version__ = "0.1.0"
"""The kit's version: the distribution's too (pyproject.toml reads it from here)."""
