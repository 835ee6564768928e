"""Storage: SQLAlchemy models, the database session factory and Alembic migrations."""
