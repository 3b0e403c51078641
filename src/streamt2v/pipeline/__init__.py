"""Stages 1-3 as library functions: chunk plans, the streaming generator, enhancement, orchestration."""
