"""Running things: Ray start-up and resources, the trainable, the sweep and its summary,
``train``, ``evaluate`` and checkpoints."""
