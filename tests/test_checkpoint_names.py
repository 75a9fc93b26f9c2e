"""Checkpoints written before the networks were built for TPU (under tf.init_scope) still
restore: every shipped config's TRAIN step creates exactly the variables, names, shapes and
dtypes listed in tests/data/checkpoint_variables.json, which was written by the code of its
`written_by` commit (TF1 Savers restore by name and shape)."""
import json
import os

import pytest

from datasets import make_dataset
from runs import ROOT, tiny_config
from tpu_compile import DATA_MODES, graph_variables

with open(os.path.join(ROOT, "tests", "data", "checkpoint_variables.json")) as f:
    BEFORE = json.load(f)["variables"]


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_variables_match_checkpoints_written_before(tmp_path, name):
    model, res = name.split("_")
    data = make_dataset(str(tmp_path / "d"), int(res), count=8, mode=DATA_MODES.get(model, "unpaired"))
    now = graph_variables(tiny_config(name, data))
    missing = sorted(set(BEFORE[name]) - set(now))
    new = sorted(set(now) - set(BEFORE[name]))
    assert not missing and not new, f"missing from the graph: {missing[:5]}; not in old checkpoints: {new[:5]}"
    changed = {k: (BEFORE[name][k], v) for k, v in now.items() if BEFORE[name][k] != v}
    assert not changed
