"""Scheduler construction (diffusers schedulers, built fresh per chunk) and SDEdit starts."""
