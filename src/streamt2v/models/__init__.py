"""Networks: the video UNet, CAM, APM, encoders, the VAE wrapper and the denoiser; the model bundle
(:mod:`~streamt2v.models.bundle`), its folder index and the strict loading of its parts."""
