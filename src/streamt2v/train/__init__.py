"""Training: data, the accelerate loop and the recipes (vae, clip, base, stream, refiner)."""
