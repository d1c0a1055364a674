"""A deadlock victim's extra latency on postgres, from the deadlock to its retried commit:
anker's ``retrying`` against oslo.db's ``wrap_db_retry(retry_on_deadlock=True)`` (see
``_db_deadlock.py``).
"""

from bench.suites._db_deadlock import benchmark

BENCHMARK = benchmark("postgres")
