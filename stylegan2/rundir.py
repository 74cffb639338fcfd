"""Run directories: <result_dir>/<NNNNN>-<desc>, numbered as NVIDIA's tools number them."""

import os
import re

from stylegan2.errors import UserError


def create_run_dir(result_dir, desc):
    """Creates <result_dir>/<NNNNN>-<desc>, NNNNN one more than the highest run number there (NVIDIA's numbering)."""
    try:
        os.makedirs(result_dir, exist_ok=True)
        while True:
            ids = [int(m.group(1)) for m in (re.match(r"^(\d+)-", e) for e in os.listdir(result_dir)) if m]
            run_dir = os.path.join(result_dir, f"{max(ids, default=-1) + 1:05d}-{desc}")
            try:
                os.mkdir(run_dir)  # atomic: a concurrent run takes the next number
                return run_dir
            except FileExistsError:
                continue
    except (NotADirectoryError, FileExistsError, PermissionError) as err:
        raise UserError(f"--result-dir {result_dir}: cannot create a run directory there ({err.strerror})") from None
