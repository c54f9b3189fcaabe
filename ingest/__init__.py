"""Bulk ingestion of reports into a results store (SQLite by default), exports and audit reports.

    from nianbao.ingest.runner import IngestOptions, ingest
    summary = ingest(["reports/"], "results.sqlite", IngestOptions(workers=4))
    print(summary.as_text())

Modules: ``runner`` (inputs, skipping, the write loop), ``pool`` (local worker processes),
``ray_engine`` (Ray tasks), ``worker`` (the per-document function), ``store`` (the Store interface,
SQLite, migrations), ``agencies`` and ``crossyear`` (one body under several names; rule 5 across
years), ``export``, ``report``, ``cli`` (the ``ingest``/``export``/``report`` commands), ``testing``
(fault-injecting extract functions for tests). Nothing heavy is imported here, so registering the
commands costs ``nianbao extract`` nothing.
"""
