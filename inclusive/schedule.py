"""The IMLE staleness schedule and InclusiveGAN's epoch-based training length.

IG:training/training_loop.py L354-356: before every step, the nearest neighbours are rebuilt when none exist yet
or when `cur_nimg` has crossed a multiple of data_size * S since the previous step (S starts at init_staleness),
and S doubles after every rebuild except the first. With S0 = 10 that is epochs 0, 10, 20, 40, 80, 160, ...
IG restarts S at init_staleness when resuming (it keeps no schedule state).
"""

from stylegan2.errors import UserError


class StalenessSchedule:
    """IG L354-356 as a stateful object: call `update(cur_nimg, step_images)` once before every training step
    (cur_nimg = real images shown so far, step_images = 2 * minibatch_size); True means rebuild now."""

    def __init__(self, data_size, init_staleness=10):
        if int(init_staleness) < 1:
            raise UserError(f"--init-staleness {init_staleness}: must be a positive number of epochs")
        if int(data_size) < 1:
            raise UserError(f"--data-size {data_size}: must be a positive number of images")
        self.data_size = int(data_size)
        self.staleness = int(init_staleness)
        self.rebuilds = 0

    def due(self, cur_nimg, step_images):
        """Whether a rebuild happens before the step that starts at cur_nimg (no state change)."""
        period = self.data_size * self.staleness
        return self.rebuilds == 0 or cur_nimg // period != (cur_nimg - step_images) // period

    def update(self, cur_nimg, step_images):
        if not self.due(cur_nimg, step_images):
            return False
        if self.rebuilds > 0:
            self.staleness *= 2
        self.rebuilds += 1
        return True


def rebuild_epochs(init_staleness, num_epochs, start_epoch=0):
    """Epochs in [start_epoch, num_epochs) at whose start IG rebuilds (with data_size divisible by the step, as
    IG asserts, crossings only happen at epoch boundaries). Defaults: [0, 10, 20, 40, 80] for 100 epochs."""
    schedule = StalenessSchedule(1, init_staleness)
    return [e for e in range(start_epoch, num_epochs) if schedule.update(e, 1)]


def total_kimg(data_size, num_epochs):
    """IG:run_training.py: `total_kimg = data_size * num_epochs // 1000`; the loop runs while
    cur_nimg < total_kimg * 1000 (so up to 999 images short of num_epochs epochs)."""
    return int(data_size) * int(num_epochs) // 1000


def epoch_of(cur_nimg, data_size):
    """Epochs of real images shown (fractional): one epoch = data_size D reals."""
    return cur_nimg / data_size


def nimg_of_epochs(epochs, data_size):
    return round(epochs * data_size)


def kimg_of_epochs(epochs, data_size):
    return epochs * data_size / 1000.0


def snapshot_ticks(data_size):
    """IG L165-166: image snapshots every data_size//1000 ticks (1 tick = 1 kimg, about one epoch), network
    snapshots every 5x that. Clamped to >= 1 (IG divides by zero below 1000 images)."""
    image = max(int(data_size) // 1000, 1)
    return image, 5 * image


def check_data_size(data_size, minibatch_size, num_images=None):
    """IG L338 asserts data_size % (2*minibatch_size) == 0; the pairing of reals and latents also needs
    data_size == the number of images in the dataset (IG indexes latents by cursor % data_size)."""
    if num_images is not None and int(data_size) != int(num_images):
        raise UserError(f"--data-size {data_size}: the dataset has {num_images} images; pass --data-size={num_images}")
    if int(data_size) % (2 * int(minibatch_size)):
        raise UserError(f"--data-size {data_size}: must be a multiple of 2 x minibatch ({2 * int(minibatch_size)}); "
                        f"change --minibatch-gpu/--num-gpus or the dataset size")
