"""MLflow: the store and its tags, the sweep's parent run, the Tune callback, plots,
and reading a sweep back. Only :mod:`motif_tune.tracking.callback` imports ``ray.tune``."""
