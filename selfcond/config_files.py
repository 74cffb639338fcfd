"""`--selfcond-config FILE.json`: the original's YAML configs with `inherit_from` (gan_training/config.py
load_config), as JSON files of selfcond flags (PyYAML is not a dependency here).

    {"inherit_from": "selfcondgan.json", "clusterer": "unconditional", "k": 1}

Keys are the flags of `--method selfcond` without the dashes (`recluster_every` or `recluster-every`). `inherit_from`
names another such file, relative to the file that names it; it is read first and this file's keys override its keys
(the original's update_recursive; these files are flat). A key set to null is unset: the flag's own default (or the
preset's) applies. Flags given on the command line win over the file. The shipped files (selfcond/configs/) are the
original's configs/<dataset>/{selfcondgan,unconditional,conditional}.yaml.
"""

import json
import os

from stylegan2.errors import UserError

INHERIT = "inherit_from"


def read_config_chain(path, _chain=(), _given=None):
    """The merged keys of `path` and the files it inherits from (nearest file wins)."""
    given = _given or path  # the path as the user typed it, for messages
    shown = path if not _chain else os.path.realpath(path)
    path = os.path.realpath(path)
    if path in _chain:
        cycle = " -> ".join(os.path.basename(p) for p in (*_chain, path))
        raise UserError(f"--selfcond-config {given}: inherit_from cycle {cycle}; remove one link")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        where = f" (inherit_from of {_chain[-1]})" if _chain else ""
        raise UserError(f"--selfcond-config {shown}: no such file{where}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"--selfcond-config {shown}: not a readable JSON file ({err}); fix or replace it") from None
    if not isinstance(data, dict):
        raise UserError(f"--selfcond-config {shown}: must hold a JSON object of flags, e.g. {{\"k\": 100}}")
    parent = data.pop(INHERIT, None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent:
        raise UserError(f"--selfcond-config {shown}: inherit_from must be a file name (a string), got {parent!r}")
    base = read_config_chain(os.path.join(os.path.dirname(path), parent), (*_chain, path), given)
    return {**base, **data}


def _typed(flag, value, source):
    """A JSON value checked against the flag's type and choices (strings are parsed as on the command line)."""
    where = f"--selfcond-config {source}: {flag.name}"
    if isinstance(value, str) and flag.type is not str:
        try:
            value = flag.type(value)
        except (TypeError, ValueError) as err:
            raise UserError(f"{where}: {value!r} is not valid ({err})") from None
    expected = {int: int, str: str}.get(flag.type, bool)
    if expected is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise UserError(f"{where}: {value!r} must be a whole number")
    if expected is bool and not isinstance(value, bool):
        raise UserError(f"{where}: {value!r} must be true or false")
    if expected is str and not isinstance(value, str):
        raise UserError(f"{where}: {value!r} must be a string")
    if flag.choices and value not in flag.choices:
        raise UserError(f"{where}: {value!r} is not one of {', '.join(map(str, flag.choices))}")
    return value


def load_selfcond_config(path, flags):
    """{flag name: value} of a config file and its inherit_from chain; null values are left out (unset)."""
    by_name = {f.name: f for f in flags}
    values = {}
    for key, value in read_config_chain(path).items():
        name = key.replace("-", "_")
        if name not in by_name or name == "selfcond_config":
            known = ", ".join(sorted(n for n in by_name if n != "selfcond_config"))
            raise UserError(f"--selfcond-config {path}: unknown key {key!r}; the keys are selfcond's flags: {known}, "
                            f"and {INHERIT}")
        if value is not None:
            values[name] = _typed(by_name[name], value, path)
    return values
