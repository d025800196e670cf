"""Measuring: metrics (PSNR, MS-SSIM, LPIPS-HED), peer codecs, `icisp eval` / `icisp bench`, BD-rates, plots."""
