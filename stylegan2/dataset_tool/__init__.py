"""dataset_tool: create StyleGAN2 TFRecord datasets from MNIST, CelebA, CIFAR, SVHN, LSUN, image folders, HDF5,
TFDS and scikit-learn's digits; inspect and compare them. The command line is in `cli`."""
