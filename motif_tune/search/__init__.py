"""Searched names -> config paths and values, the Optuna space, the searcher and its
stored study, the scheduler, the budget, and the ranking of the trials it yields."""
