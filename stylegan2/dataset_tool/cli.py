"""`python dataset_tool.py <command> ...`: the originals' commands, positional arguments and defaults."""

import argparse
import shlex
import signal
import sys

from stylegan2.dataset_tool import celeba, cifar, images, inspect, mnist
from stylegan2.dataset_tool.common import ExportOptions
from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser, str2bool


def _index_range(text):
    """'START,END' -> (START, END)."""
    try:
        start, end = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected START,END (two integers)") from None
    return start, end


def _build_parser(prog):
    parser = OneLineParser(
        prog=prog,
        description="Create, inspect and compare StyleGAN2 TFRecord datasets (NVIDIA's format).",
        epilog=f'Type "{prog} <command> -h" for more information.')
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.required = True

    def command(name, desc, example):
        return sub.add_parser(name, description=desc, help=desc, epilog=f"Example: {prog} {example}",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)

    def output(p):
        p.add_argument("tfrecord_dir", help="New dataset directory to be created")
        p.add_argument("--overwrite", action="store_true", help="Replace the output directory if it exists")
        p.add_argument("--lods", type=str2bool, default=True, metavar="BOOL",
                       help="Also write every lower resolution down to 4x4 (NVIDIA's readers require them)")

    def tfds_options(p, split_help="Which split to read"):
        p.add_argument("--split", default="train", help=split_help)
        p.add_argument("--tfds", action="store_true", help="Read the source from TensorFlow Datasets instead")
        p.add_argument("--tfds_data_dir", default=None, help="TFDS data directory holding prepared data (offline)")

    # Inspection.
    p = command("info", "Print a dataset's summary and check every record.", "info datasets/mnist")
    p.add_argument("tfrecord_dir", help="Directory containing dataset")
    p = command("display", "Write the first images as a grid PNG and print their labels.", "display datasets/mnist")
    p.add_argument("tfrecord_dir", help="Directory containing dataset")
    p.add_argument("--num_images", type=int, default=64, help="How many images")
    p.add_argument("--output", default=None, help="PNG to write (default: <tfrecord_dir>-display.png)")
    p = command("extract", "Extract images from dataset (img%%08d.png and labels.txt).", "extract datasets/mnist mnist-images")
    p.add_argument("tfrecord_dir", help="Directory containing dataset")
    p.add_argument("output_dir", help="Directory to extract the images into")
    p.add_argument("--num_images", type=int, default=0, help="How many images (0 = all)")
    p = command("compare", "Compare two datasets.", "compare datasets/mydataset datasets/mnist")
    p.add_argument("tfrecord_dir_a", help="Directory containing first dataset")
    p.add_argument("tfrecord_dir_b", help="Directory containing second dataset")
    p.add_argument("--ignore_labels", type=int, default=0, help="Ignore labels")
    p = command("tfds_metadata", "Add TFDS metadata to a dataset made by other tools, so tfds can read it.",
                "tfds_metadata datasets/ffhq")
    p.add_argument("tfrecord_dir", help="Directory containing dataset")

    # Creation.
    p = command("create_mnist", "Create dataset for MNIST.", "create_mnist datasets/mnist ~/downloads/mnist")
    output(p)
    p.add_argument("mnist_dir", nargs="?", help="Directory containing MNIST (idx files)")
    tfds_options(p, "train (train-*) or test (t10k-*)")

    p = command("create_mnistrgb", "Create dataset for MNIST-RGB (Stacked MNIST, 1000 classes).",
                "create_mnistrgb datasets/stacked_mnist_240k mnist/ --num_images 240000")
    output(p)
    p.add_argument("mnist_dir", nargs="?", help="Directory containing MNIST (idx files)")
    p.add_argument("--num_images", type=int, default=1000000, help="Number of composite images to create")
    p.add_argument("--random_seed", type=int, default=123, help="Random seed")
    tfds_options(p, "train (train-*) or test (t10k-*)")

    p = command("create_digits", "Create the embedded default dataset from scikit-learn's digits (no download): "
                "stacked like Stacked MNIST (32x32x3, 1000 classes), or single digits (--channels 1, 32x32x1, "
                "10 classes).", "create_digits datasets/digits")
    output(p)
    p.add_argument("--num_images", type=int, default=None, help="Number of composite images to create (--channels "
                                                                 "3; default 10000)")
    p.add_argument("--random_seed", type=int, default=123, help="Random seed of the stacking")
    p.add_argument("--channels", type=int, default=3, help="3 = three stacked digits per image, 1 = single digits")
    p.add_argument("--split", default="all", choices=["all", "train", "test"],
                   help="Digits used: all 1,797, or a fixed disjoint train (1,497) / test (300) split")

    p = command("create_cifar10", "Create dataset for CIFAR-10.", "create_cifar10 datasets/cifar10 ~/downloads/cifar10")
    output(p)
    p.add_argument("cifar10_dir", nargs="?", help="cifar-10-python.tar.gz or its extracted folder")
    tfds_options(p, "train or test")

    p = command("create_cifar100", "Create dataset for CIFAR-100.",
                "create_cifar100 datasets/cifar100 ~/downloads/cifar100")
    output(p)
    p.add_argument("cifar100_dir", nargs="?", help="cifar-100-python.tar.gz or its extracted folder")
    tfds_options(p, "train or test")

    p = command("create_svhn", "Create dataset for SVHN.", "create_svhn datasets/svhn ~/downloads/svhn")
    output(p)
    p.add_argument("svhn_dir", nargs="?", help="Directory containing train_32x32.mat (or NV's train_1..3.pkl)")
    tfds_options(p, "train, test or extra")

    p = command("create_lsun", "Create dataset for single LSUN category.",
                "create_lsun datasets/lsun-car-100k ~/downloads/lsun/car_lmdb --resolution 256 --max_images 100000")
    output(p)
    p.add_argument("lmdb_dir", help="Directory containing LMDB database")
    p.add_argument("--resolution", type=int, default=256, help="Output resolution")
    p.add_argument("--max_images", type=int, default=None, help="Maximum number of images (default: all)")

    p = command("create_celeba", "Create dataset for CelebA (128x128 crops, 40 attributes as labels).",
                "create_celeba datasets/celeba_align_png_cropped_30k/ celeba/Img/img_align_celeba_png/ "
                "--num_images 30000")
    output(p)
    p.add_argument("celeba_dir", nargs="?", help="Directory containing the aligned CelebA images (png or jpg)")
    p.add_argument("--cx", type=int, default=89, help="Center X coordinate")
    p.add_argument("--cy", type=int, default=121, help="Center Y coordinate")
    p.add_argument("--shuffle", type=int, default=1, help="Randomize image order")
    p.add_argument("--num_images", type=int, default=0, help="Number of images to be considered (0 = all)")
    p.add_argument("--num_shifts", type=int, default=0, help="Number of image index shifts to be considered")
    p.add_argument("--export_attr", type=int, default=1, help="Export image binary attribute vector")
    p.add_argument("--attr_file", default=None,
                   help="list_attr_celeba.txt (default: beside the images, ../Anno/, or celeba/Anno/)")
    tfds_options(p, "TFDS split (with --tfds)")

    p = command("create_from_images", "Create dataset from a directory full of images.",
                "create_from_images datasets/mydataset myimagedir")
    output(p)
    p.add_argument("image_dir", help="Directory containing the images")
    p.add_argument("--shuffle", type=int, default=1, help="Randomize image order")
    p.add_argument("--num_images", type=int, default=0, help="Number of images to be considered (0 = all)")
    p.add_argument("--num_shifts", type=int, default=0, help="Number of image index shifts to be considered")
    p.add_argument("--resolution", type=int, default=None,
                   help="Centre-crop and resize every image to this size (default: images must be square, "
                        "power-of-two, one size)")
    p.add_argument("--labels_from_dirs", action="store_true",
                   help="One sub-folder per class; labels are one-hot over the sorted sub-folder names")
    p.add_argument("--classes_idx", type=_index_range, default=None, metavar="START,END",
                   help="With --labels_from_dirs: only the sorted sub-folders START..END-1, as classes 0..END-START-1 "
                        "(AC-GAN's ImageNet subsets; default: all)")

    p = command("create_from_hdf5", "Create dataset from legacy HDF5 archive.",
                "create_from_hdf5 datasets/celebahq ~/downloads/celeba-hq-1024x1024.h5")
    output(p)
    p.add_argument("hdf5_filename", help="HDF5 archive containing the images")
    p.add_argument("--shuffle", type=int, default=1, help="Randomize image order")
    return parser


_TFDS_SOURCES = {"create_mnist": "mnist_dir", "create_mnistrgb": "mnist_dir", "create_cifar10": "cifar10_dir",
                 "create_cifar100": "cifar100_dir", "create_svhn": "svhn_dir", "create_celeba": "celeba_dir"}
_CREATE = {
    "create_mnist": mnist.create_mnist,
    "create_mnistrgb": mnist.create_mnistrgb,
    "create_digits": mnist.create_digits,
    "create_cifar10": cifar.create_cifar10,
    "create_cifar100": cifar.create_cifar100,
    "create_svhn": cifar.create_svhn,
    "create_lsun": images.create_lsun,
    "create_celeba": celeba.create_celeba,
    "create_from_images": images.create_from_images,
    "create_from_hdf5": images.create_from_hdf5,
}


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run(argv, prog="dataset_tool.py"):
    """Runs one command; returns what the command returns. Raises UserError for bad input."""
    args = vars(_build_parser(prog).parse_args(argv))
    command = args.pop("command")
    if command == "info":
        return inspect.info(**args)
    if command == "display":
        return inspect.display(**args)
    if command == "extract":
        return inspect.extract(**args)
    if command == "compare":
        return inspect.compare(**args)
    if command == "tfds_metadata":
        from stylegan2.tfrecords import write_tfds_metadata

        write_tfds_metadata(args["tfrecord_dir"])
        print(f"Wrote TFDS metadata to {args['tfrecord_dir']}; read it with tfds.builder_from_directory")
        return None
    source_arg = _TFDS_SOURCES.get(command)
    if source_arg and args[source_arg] is None and not args.get("tfds"):
        raise UserError(f"{command}: missing the source directory argument ({source_arg}), or pass --tfds")
    export = ExportOptions(overwrite=args.pop("overwrite"), lods=args.pop("lods"),
                           command="python " + shlex.join([prog, *argv]))
    return _CREATE[command](**args, export=export)


@exit_on_user_error
def main(argv=None):
    signal.signal(signal.SIGTERM, _raise_interrupt)  # a killed run still removes its partial output
    run(sys.argv[1:] if argv is None else argv)
