"""Persistence: SQLAlchemy 2 models, engines and sessions. Knows nothing of the layers above."""
