"""A sweep on Ray Tune: its plan, its session (Ray and the MLflow parent run), the search
and verification Tuners, the trainable, the console and the summary."""
