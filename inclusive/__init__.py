"""Inclusive GAN (ningyu1991/InclusiveGAN): StyleGAN2 + IMLE reconstruction with minority inclusion.

Building blocks, each usable on its own:
  knn         exact streaming nearest-neighbour retrieval (replaces IG's approximate DCI), exclusive retrieval,
              the distance-percentile filter;
  projection  the Gaussian random projection of flattened images and the JL dimension rule;
  schedule    the staleness (rebuild) schedule and epoch <-> image/kimg conversions;
  latents     the fixed candidate latent pool, slerp, the latent perturbation and interpolation weights;
  minority    `--attr-interesting` parsing and the minority (AND of attributes) mask.

On top of them:
  method      `--method inclusive` (InclusiveMethod) for the generic training loop: IMLE rebuilds, the
              reconstruction/interpolation G terms, the minority stream, the rec-*.png grids, resumable state;
  projector   IvOM (`run_projector.py project-real-images`): z-space projection of real images with LPIPS.
"""
