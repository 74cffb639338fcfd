"""Run directories: <result_dir>/<NNNNN>-<desc>, numbered as NVIDIA's tools number them."""

import fcntl
import os
import re

from stylegan2.errors import UserError


def create_run_dir(result_dir, desc):
    """Creates <result_dir>/<NNNNN>-<desc>, NNNNN one more than the highest run number there (NVIDIA's numbering).
    Runs started at the same time get different numbers (the listing and the mkdir happen under a file lock)."""
    try:
        os.makedirs(result_dir, exist_ok=True)
        with open(os.path.join(result_dir, ".run-number.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            ids = [int(m.group(1)) for m in (re.match(r"^(\d+)-", e) for e in os.listdir(result_dir)) if m]
            run_dir = os.path.join(result_dir, f"{max(ids, default=-1) + 1:05d}-{desc}")
            os.mkdir(run_dir)
            return run_dir
    except (NotADirectoryError, FileExistsError, PermissionError) as err:
        raise UserError(f"--result-dir {result_dir}: cannot create a run directory there ({err.strerror})") from None
