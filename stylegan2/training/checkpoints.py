"""Resumable checkpoints of a run: TensorFlow's layout (`checkpoints/ckpt-<iteration>.index` / `.data-*` and the
`checkpoint` state file, as tf.train.CheckpointManager writes them, so older runs resume), written so that a kill at
any moment leaves the previous checkpoint usable:

1. the checkpoint is written into a temporary folder `checkpoints/.tmp-<iteration>-<pid>/`;
2. its files are renamed into place;
3. the state file is replaced atomically to list it (the last `keep` checkpoints), then older files are deleted.

A kill before 3 leaves the state file naming the previous checkpoint; `clean()` (on resume) removes temporary
folders and files that the state file does not list. The caller checks that every value is finite before `save`
(a diverged state is never written, so rotation never pushes out the last finite checkpoint).
"""

import glob
import os
import re
import shutil

import tensorflow as tf

from stylegan2 import faults

_CKPT_FILE = re.compile(r"^(ckpt-\d+)\.(index|data-\d+-of-\d+)$")


class CheckpointWriter:
    def __init__(self, directory, checkpoint, keep=2):
        self.directory = directory
        self.checkpoint = checkpoint
        self.keep = keep

    def latest(self):
        """The prefix of the latest complete checkpoint, or None."""
        return tf.train.latest_checkpoint(self.directory) if os.path.isdir(self.directory) else None

    def listed(self):
        state = tf.train.get_checkpoint_state(self.directory) if os.path.isdir(self.directory) else None
        return [os.path.basename(p) for p in state.all_model_checkpoint_paths] if state else []

    def save(self, iteration):
        os.makedirs(self.directory, exist_ok=True)
        name = f"ckpt-{iteration}"
        tmp_dir = os.path.join(self.directory, f".tmp-{iteration}-{os.getpid()}")
        shutil.rmtree(tmp_dir, ignore_errors=True)
        written = self.checkpoint.save(os.path.join(tmp_dir, "ckpt"))  # save(), not write(): keeps save_counter
        faults.point("checkpoint")
        for path in glob.glob(written + ".*"):
            os.replace(path, os.path.join(self.directory, name + path[len(written):]))
        shutil.rmtree(tmp_dir, ignore_errors=True)
        kept = ([p for p in self.listed() if p != name][-(self.keep - 1):] if self.keep > 1 else []) + [name]
        self._write_state(kept)
        self._delete_unlisted(kept)
        return os.path.join(self.directory, name)

    def _write_state(self, kept):
        """The `checkpoint` state file (CheckpointState text format, paths relative to the folder), atomically."""
        lines = [f'model_checkpoint_path: "{kept[-1]}"'] + [f'all_model_checkpoint_paths: "{p}"' for p in kept]
        path = os.path.join(self.directory, "checkpoint")
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, path)

    def clean(self):
        """Removes what a killed write left: temporary folders (ours and TensorFlow's `*_temp`) and checkpoint files
        the state file does not list."""
        if not os.path.isdir(self.directory):
            return
        for entry in os.listdir(self.directory):
            if entry.startswith(".tmp-") or entry.endswith("_temp") or "_temp_" in entry:
                shutil.rmtree(os.path.join(self.directory, entry), ignore_errors=True)
        self._delete_unlisted(self.listed())

    def _delete_unlisted(self, kept):
        for entry in os.listdir(self.directory):
            match = _CKPT_FILE.match(entry)
            if match and match.group(1) not in kept:
                os.remove(os.path.join(self.directory, entry))
