"""Background jobs: a database-backed queue and a runner that works in child processes."""
