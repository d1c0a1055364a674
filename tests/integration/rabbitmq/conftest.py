"""The RabbitMQ suites' shared fixtures (defined in rabbit_support.py)."""

from rabbit_support import transports  # noqa: F401 (a fixture, found by pytest through this import)
