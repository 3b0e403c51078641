"""The paper's metrics (MAWE, SCuts, CLIP score) and the microworld's ground-truth probes."""
