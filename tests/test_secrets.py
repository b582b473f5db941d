"""Secrets in URIs and tokens never reach the terminal, the log file or MLflow (a whole
sweep on a tracking server reached with a password: ``tests/test_outage.py``)."""

from __future__ import annotations

import pytest

from motif_tune.cli import EXIT_BAD_INPUT, main
from motif_tune.secrets import mask_secrets

SECRET = "s3cr3t-pw-4711"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"http://alice:{SECRET}@host:5000/x", "http://alice:***@host:5000/x"),
        (
            f"tracking.uri=https://a:{SECRET}@m.example.com",
            "tracking.uri=https://a:***@m.example.com",
        ),
        (f"postgresql://mlf:{SECRET}@db:5432/mlflow", "postgresql://mlf:***@db:5432/mlflow"),
        (f"s3://bucket/runs?token={SECRET}&x=1", "s3://bucket/runs?token=***&x=1"),
        (f"uri: 'http://a:{SECRET}@h'", "uri: 'http://a:***@h'"),
        ("sqlite:////tmp/runs/mlflow.db", "sqlite:////tmp/runs/mlflow.db"),
        ("http://127.0.0.1:5000/#/experiments/1", "http://127.0.0.1:5000/#/experiments/1"),
    ],
)
def test_mask_secrets(text, masked):
    assert mask_secrets(text) == masked


def test_a_ray_token_in_the_environment_is_masked_wherever_it_appears(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN", SECRET)
    assert mask_secrets(f"joined with token {SECRET}.") == "joined with token ***."


def test_a_refused_tracking_uri_is_named_without_its_password(capsys):
    code = main(["sweep", f"tracking.uri=http://alice:{SECRET}@127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert "tracking.uri 'http://alice:***@127.0.0.1:9'" in err and SECRET not in err
