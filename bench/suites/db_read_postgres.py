"""Primary-key read on postgres, ops/s: anker (a ``retrying`` unit of work on an engine from
``anker.db.create_engine``), oslo.db's enginefacade, plain SQLAlchemy 2 on the same driver, and
the raw driver (the floor). The workload and the sides are described in ``_db.py``.
"""

from bench.suites._db import benchmark

BENCHMARK = benchmark("read", "postgres")
