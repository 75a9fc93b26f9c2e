"""Input pipeline throughput: examples/s that `make_input_fn(cfg, 'train')` delivers alone
(local TFRecords: read, parse, decode and check, resize if needed, the model's augmentation,
batch, prefetch), batches pulled as fast as Python can; compared by run.py with what the
training step consumes."""
import time
from typing import Dict

import tensorflow as tf

from benchmarks.timing import Schedule, WindowPlan
from trainer.gan_model_fn import make_input_fn


def input_throughput(cfg, schedule: Schedule) -> Dict:
    batch = cfg["train_batch_size"]
    dataset = make_input_fn(cfg, "train")({"batch_size": batch})
    # Enough batches per window that Python's per-batch cost (~0.1 ms) does not matter.
    plan = WindowPlan(schedule)
    iterator = iter(dataset)
    while True:
        tf.nest.flatten(next(iterator))
        if plan.add(time.perf_counter()):
            break
    del iterator
    return plan.summary(batch)
