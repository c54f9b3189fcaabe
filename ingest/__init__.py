"""Bulk ingestion of reports into a results store (SQLite by default), exports and audit reports."""
