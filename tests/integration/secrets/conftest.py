"""The secrets suites' fixtures (defined in secrets_support.py)."""

from secrets_support import manager, store_url  # noqa: F401 (fixtures, found by pytest)
