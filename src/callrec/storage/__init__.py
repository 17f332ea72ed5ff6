"""Durable state behind one interface (`base.Store`), with a SQLite implementation."""
