"""What anker's session factory plus error translation add to a primary-key read on mariadb,
against plain SQLAlchemy configured the same and the raw driver (see ``_db_overhead.py``).
"""

from bench.suites._db_overhead import benchmark

BENCHMARK = benchmark("mariadb")
