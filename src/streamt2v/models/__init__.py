"""Networks: the video UNet, CAM, APM, encoders, the VAE wrapper and the denoiser."""
