"""`l4 eval`: score a replay run's outputs against the ground truth in the scenario bag."""
