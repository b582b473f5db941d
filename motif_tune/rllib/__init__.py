"""Settings -> RLlib ``AlgorithmConfig`` -> ``Algorithm``, and the checks that need RLlib."""
