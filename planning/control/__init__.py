"""Trajectory following: pure pursuit steering, PID speed control, safe-stop commands."""
