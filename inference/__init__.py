"""The extraction stages: read, locate, map, reconcile, review (see ``pipeline.py``)."""
