"""Settings package.

`local` (the default) runs a bare checkout with no environment variables: SQLite, in-memory
channel layer, eager Celery. `production` requires SECRET_KEY and turns the security settings on.
Either reads DATABASE_URL and REDIS_URL to move onto PostgreSQL and Redis.
"""
