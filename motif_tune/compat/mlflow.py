"""MLflow internals: the fluent API's tracking URI, set for a moment and put back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from motif_tune.compat import PrivateName

PRIVATE_NAMES = (
    PrivateName(
        "mlflow.tracking._tracking_service.utils",
        "_tracking_uri",
        "the tracking URI set in this process, None when none was (to put it back exactly)",
        "mlflow.get_tracking_uri(), which returns a default when none was set, so putting "
        "it back would pin that default",
    ),
)


@contextmanager
def tracking_uri_set(tracking_uri: str) -> Iterator[None]:
    """MLflow's global tracking URI is ``tracking_uri`` inside, and what it was after.

    The fluent API (``mlflow.pyfunc.log_model``, and a SQLite registry resolving
    a ``models:/m-...`` source) reads the global URI; ``MLFLOW_TRACKING_URI``
    is restored too, as ``mlflow.set_tracking_uri`` rewrites it.
    """
    import mlflow
    from mlflow.tracking._tracking_service import utils as tracking_utils

    previous_uri = tracking_utils._tracking_uri
    previous_env = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous_uri)
        if previous_env is not None:
            os.environ["MLFLOW_TRACKING_URI"] = previous_env
