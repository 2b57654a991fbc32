"""Versioned, reversible schema changes for the warehouse's own tables.

See `migrations/README.md` for why plain ordered up/down steps with a version table, and
`migrations/runner.py` for how they run.
"""
