"""Training data and training runs: the report factory (``factory/``); the classifier comes later."""
