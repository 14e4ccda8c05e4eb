"""The shipped models, one folder each; installed as the package ``livetrack._shipped``.

This file only makes the folder a package, so that a wheel carries the models and
``importlib.resources`` finds them (see setup.py and ``livetrack.model.shipped_models_dir``).
"""
