"""The anker version, kept in one place (read by the build backend and by ``anker --version``)."""

__version__ = "0.1.0.dev0"
