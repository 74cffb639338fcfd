"""Named points where a test can kill this process, to prove that a run survives a SIGKILL at that moment.

    STYLEGAN2_KILL_AT=snapshot:2 python run_training.py ...   # SIGKILL the 2nd time the 'snapshot' point is reached

Points: 'start' (the run directory exists, nothing trained), 'checkpoint' (a checkpoint is written but not yet in
place), 'snapshot' and 'image' (a .keras / .png file is written under its temporary name, not yet renamed), 'tick'
(after a tick's log line, before its snapshot and checkpoint). Unset (the normal case), `point()` does nothing.
"""

import os
import signal

ENV = "STYLEGAN2_KILL_AT"
_counts = {}


def point(name):
    target = os.environ.get(ENV)
    if not target:
        return
    wanted, _, nth = target.partition(":")
    if wanted != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
