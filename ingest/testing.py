"""Extract functions for tests of isolation and resumption (``WorkerConfig.extract_fn``).

They behave like ``pipeline.run(path)`` except for files whose name asks for a fault:

- ``*hang*``: sleeps forever (the time limit must kill the worker);
- ``*crash*``: the process dies at once (``os._exit``), as a segfault in a C library would;
- ``*memhog*``: allocates far more than any limit (the memory guard must stop it);
- ``*raise*``: the extract function raises.

``slow_extract`` adds a pause before every document, so a test can kill a run mid-way.
Selected with ``nianbao ingest --extract-fn nianbao.ingest.testing:faulty_extract`` (a hidden option).
"""
from __future__ import annotations

import os
import time
from pathlib import Path


def faulty_extract(pipeline, path):
    name = Path(path).name
    if "hang" in name:
        while True:
            time.sleep(60)
    if "crash" in name:
        os._exit(3)
    if "memhog" in name:
        blocks = []
        for _ in range(1024):
            blocks.append(bytearray(256 * 1024 * 1024))  # 256 GiB in all: stopped long before
    if "raise" in name:
        raise RuntimeError("raised by the extract hook")
    return pipeline.run(path)


def slow_extract(pipeline, path):
    time.sleep(float(os.environ.get("NIANBAO_TEST_DELAY", "0.15")))
    return pipeline.run(path)
