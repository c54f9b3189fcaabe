"""The extraction stages: read, ocr, locate, report, map, reconcile, calibrate, triage (see ``pipeline.py``)."""
