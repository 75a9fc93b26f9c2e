"""The event-file writers the Estimator's hooks use, with or without the TensorFlow graph.

Every Estimator hook (checkpoint saver, step counter, summary saver) and evaluate() write events
through `tf.compat.v1.summary.FileWriterCache`, one writer per folder. The first writer made for
a folder serialises the whole graph into the event file, and the checkpoint hook writes the graph
and the meta-graph again at every session start. The protobuf this package can have is 3.20
(cloud-tpu-client's google-api-core holds it below 4), which on Python 3.11 has no compiled
wheel and runs as pure Python: those serialisations took ~90 of the 137 s of a 1-step
discogan_64 run on this CPU. They buy TensorBoard's Graphs tab only, so with
`tensorboard_graph: false` (the default) a writer that skips them goes into the cache before the
hooks ask for one; scalars, images and checkpoint events are written as before.
"""
import tensorflow as tf


class GraphlessFileWriter(tf.compat.v1.summary.FileWriter):
    """A FileWriter whose add_graph / add_meta_graph do nothing."""

    def add_graph(self, graph, global_step=None, graph_def=None):
        del graph, global_step, graph_def

    def add_meta_graph(self, meta_graph_def, global_step=None):
        del meta_graph_def, global_step


def prepare(logdir: str, write_graph: bool) -> None:
    """Makes the writer the Estimator will use for `logdir` write the graph or not.

    Uses the cache's private dict and lock: TensorFlow 2.15 is pinned (the last release with
    Estimator), and FileWriterCache has no public way to hand it a writer.
    """
    cache = tf.compat.v1.summary.FileWriterCache
    with cache._lock:
        current = cache._cache.get(logdir)
        if current is not None and isinstance(current, GraphlessFileWriter) == (not write_graph):
            return  # already the kind asked for
        if current is not None:  # left by an earlier run in this process with the other setting
            current.close()
            del cache._cache[logdir]
        if not write_graph:
            with tf.Graph().as_default():  # FileWriter refuses to be made in eager mode
                cache._cache[logdir] = GraphlessFileWriter(logdir)
