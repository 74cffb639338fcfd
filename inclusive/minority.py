"""Minority inclusion (`--attr-interesting=A,B`): IMLE reconstructs only the images that have all the attributes.

IG:training/training_loop.py L174-180 reads the attribute names from the header of celeba/Anno/list_attr_celeba.txt;
L419-424 keeps the samples whose label row has every listed attribute == 1 (`active *= labels[:, idx]`,
`active == 1`, labels in {0,1}). Here the names come from the dataset (dataset.json `label_names`, i.e.
ImageDataset.label_names). D still trains on every image; with the option set IG skips the distance-percentile
filter.
"""

import numpy as np

from stylegan2.errors import UserError


def parse_attr_interesting(spec, names):
    """'A,B' (or a list of names) -> column numbers in `names`; one-line UserError for unknown or missing names."""
    wanted = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [str(s).strip() for s in spec]
    wanted = [s for s in wanted if s]
    if not wanted:
        raise UserError("--attr-interesting: empty; give comma-separated attribute names, e.g. Eyeglasses,Bald")
    names = list(names or [])
    if not names:
        raise UserError("--attr-interesting needs a dataset with named attribute labels (dataset_tool.py "
                        "create_celeba); this dataset has none")
    unknown = [s for s in wanted if s not in names]
    if unknown:
        raise UserError(f"--attr-interesting: unknown attribute(s) {', '.join(unknown)}; valid: {', '.join(names)}")
    return [names.index(s) for s in wanted]


def minority_mask(attribute_rows, names, interesting):
    """bool [N]: rows whose chosen {0,1} attributes are all 1 (IG's product of the columns == 1).

    attribute_rows: [N, num_attributes] label rows (ImageDataset.labels, or the labels of a batch);
    names: the attribute names of the columns; interesting: 'A,B' or a list of names.
    """
    columns = parse_attr_interesting(interesting, names)
    rows = np.asarray(attribute_rows)
    if rows.ndim != 2 or rows.shape[1] != len(names):
        raise UserError(f"--attr-interesting: label rows have shape {rows.shape}, expected [N, {len(names)}] "
                        f"attribute columns")
    return np.all(rows[:, columns] == 1, axis=1)
