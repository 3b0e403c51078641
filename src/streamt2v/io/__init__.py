"""Video and checkpoint I/O (the only place uint8 frames and pickle checkpoints exist)."""
