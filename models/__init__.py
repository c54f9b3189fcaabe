"""The shipped models as package data (``nianbao.models``): found through ``nianbao.resources``.

This folder stays the project's top-level ``models/`` (the design card wants it there);
``pyproject.toml`` maps it to ``nianbao.models`` so a wheel carries the same files. See README.md here.
"""
