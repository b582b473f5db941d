"""A run's log file: its own records, not those of the next run in the same process."""

from __future__ import annotations

import logging

from motif_tune.runtime.logs import logging_to


def test_a_run_log_gets_the_records_of_its_own_run_only(tmp_path):
    """One process, two runs after each other (a multirun's jobs, a script's sweeps)."""
    first, second = tmp_path / "a" / "motif_tune.log", tmp_path / "b" / "motif_tune.log"
    log = logging.getLogger("motif_tune.tests.logs")
    log.setLevel(logging.INFO)
    with logging_to(first, "INFO", "%(message)s"):
        log.info("first run")
    with logging_to(second, "INFO", "%(message)s"):
        log.info("second run")
    log.info("after both")
    assert first.read_text() == "first run\n"
    assert second.read_text() == "second run\n"
    open_files = {getattr(h, "baseFilename", None) for h in logging.getLogger().handlers}
    assert not open_files & {str(first), str(second)}
