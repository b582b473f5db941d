"""motif_tune: hyperparameter sweeps for RLlib, composed with Hydra, searched with
Optuna through Ray Tune, recorded in MLflow."""

__version__ = "0.1.0"
