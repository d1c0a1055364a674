"""Connection code shared by every driver of one engine (SQLite, PostgreSQL), whichever
subsystem it serves: coordination backends today, the workflow, limits and db stores next.
Each module imports its client library only when called."""
