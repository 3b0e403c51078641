"""The microworld: a procedural world with known ground truth (DESIGN.md §6)."""
