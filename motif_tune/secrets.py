"""Secrets never shown: passwords in URIs, tokens in query strings, secret variables.

Everything the program prints, logs or records in MLflow passes through
:func:`mask_secrets` (the terminal, the log file, run tags and params).
"""

from __future__ import annotations

import os
import re

# ``scheme://user:password@host`` and ``?token=…``-like query values in URIs.
_URI_PASSWORD = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^/\s:@'\"]*):[^/\s@'\"]+@")
_QUERY_SECRET = re.compile(
    r"([?&](?:token|access_token|password|secret|sig|signature|key)=)[^&\s'\"]+", re.IGNORECASE
)
# Environment variables whose values are secrets wherever they appear.
SECRET_VARS = (
    "RAY_AUTH_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
)
# The longest text a run tag holds here (MLflow allows 8,000 characters).
TAG_LIMIT = 5000


def mask_secrets(text: str) -> str:
    """``text`` with passwords in URIs, secret query values and the values of known
    secret environment variables replaced by ``***``."""
    text = _URI_PASSWORD.sub(r"\1:***@", text)
    text = _QUERY_SECRET.sub(r"\1***", text)
    for name in SECRET_VARS:
        value = os.environ.get(name, "")
        if len(value) >= 8:
            text = text.replace(value, "***")
    return text


def masked_tag(text: str) -> str:
    """``text`` masked and cut to what a run tag holds."""
    return mask_secrets(text)[:TAG_LIMIT]
