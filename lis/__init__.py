"""LIS: learning to avoid errors in GANs by manipulating input spaces (A. B. Jung, arXiv 1707.00768;
aleju/gan-error-avoidance) on the StyleGAN2 backbone: `--method lis` (G-LIS and R-iterative), R-separate
(`python -m lis.train_r`) and the samplers and plots of the original (`python -m lis.sample_images`,
`lis.sample_tsne`, `lis.sample_density`)."""
