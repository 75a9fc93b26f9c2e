"""The Estimator's event-file writers: without the graph by default (tensorboard_graph: false),
with it when asked, and an earlier writer for the same folder replaced when the setting flips."""
import tensorflow as tf

from runs import graph_events
from trainer import event_files


def write_like_the_hooks(logdir):
    """What the checkpoint and summary hooks do: get the cached writer with a graph as default,
    add the graph and meta-graph, write a scalar."""
    with tf.Graph().as_default() as graph:
        tf.constant(1.0, name="some_op")
        writer = tf.compat.v1.summary.FileWriterCache.get(logdir)
        writer.add_graph(graph)
        writer.add_meta_graph(tf.compat.v1.train.export_meta_graph(graph=graph))
        writer.add_summary(tf.compat.v1.Summary(value=[tf.compat.v1.Summary.Value(tag="loss", simple_value=1.0)]), 1)
        writer.flush()
    return writer


def test_default_writer_skips_graph_and_meta_graph_but_keeps_summaries(tmp_path):
    logdir = str(tmp_path / "model")
    event_files.prepare(logdir, write_graph=False)
    writer = write_like_the_hooks(logdir)
    assert isinstance(writer, event_files.GraphlessFileWriter)
    assert graph_events(logdir) == (0, 0, 1)


def test_write_graph_gives_the_standard_writer_and_replaces_a_graphless_one(tmp_path):
    logdir = str(tmp_path / "model")
    event_files.prepare(logdir, write_graph=False)
    graphless = tf.compat.v1.summary.FileWriterCache.get(logdir)
    event_files.prepare(logdir, write_graph=True)
    writer = write_like_the_hooks(logdir)
    assert writer is not graphless and not isinstance(writer, event_files.GraphlessFileWriter)
    graphs, metas, values = graph_events(logdir)
    assert graphs >= 1 and metas >= 1 and values == 1

    event_files.prepare(logdir, write_graph=False)  # and back: the standard writer is replaced
    assert isinstance(tf.compat.v1.summary.FileWriterCache.get(logdir), event_files.GraphlessFileWriter)
