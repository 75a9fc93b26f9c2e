"""The converter: input folder(s) -> sharded TFRecords + dataset.json (+ rejects.csv).

convert(options) is the whole run; convert_to_tfrecords.py only parses flags and calls it.

Determinism: the record order and shard assignment depend only on the input file list, the
options and --seed (sources.py), so a rerun writes byte-identical shards, and a resumed run
writes exactly the shards an uninterrupted one would have.

Crash safety: each shard is written under a temporary name by this process, renamed into place
when complete, and then given a done-record in OUT/.progress (convert_output.py); one shard is
completed on a background thread while the next is written. --resume skips
shards with a valid done-record and rewrites the rest; the manifest is written last.
"""
import concurrent.futures
import dataclasses
import hashlib
import json
import os
import sys
from typing import Callable, Dict, List, Optional, TextIO

import tensorflow as tf

from trainer.data import convert_manifest, convert_output, schema, sources
from trainer.data.convert_options import ConvertOptions
from trainer.data.convert_parallel import ProgressLine, ResultStream
from trainer.data.decode_worker import Result


class ConvertError(schema.DataError):
    """The conversion cannot go on; one line naming the file or folder and what was expected."""


@dataclasses.dataclass(frozen=True)
class Shard:
    name: str
    record_set: sources.RecordSet
    items: tuple


@dataclasses.dataclass(frozen=True)
class Summary:
    manifest: Dict
    manifest_path: str
    rejects_path: Optional[str]
    warnings: List[str]
    already_complete: bool = False


def shard_names(prefix: str, count: int) -> List[str]:
    return [f"{prefix}-{i:05d}-of-{count:05d}{convert_output.SHARD_SUFFIX}" for i in range(count)]


def assign_shards(record_set: sources.RecordSet, options: ConvertOptions) -> List[Shard]:
    """Contiguous, balanced slices of the (already shuffled) items: shard sizes differ by <= 1."""
    n = len(record_set.items)
    count = options.num_shards or max(1, -(-n // options.examples_per_shard))
    bounds = [i * n // count for i in range(count + 1)]
    return [Shard(name, record_set, record_set.items[bounds[i]:bounds[i + 1]])
            for i, name in enumerate(shard_names(record_set.prefix, count))]


def plan_fingerprint(options: ConvertOptions, plan: sources.SourcePlan) -> Dict:
    digest = hashlib.sha256()
    for record_set in plan.record_sets:
        for item in record_set.items:
            digest.update(json.dumps([record_set.prefix, *item.task, item.label],
                                     ensure_ascii=True).encode())
    return {"options": options.plan_fields(), "inputs_sha256": digest.hexdigest(),
            "num_found": plan.num_found, "schema_version": schema.SCHEMA_VERSION}


def convert(options: ConvertOptions,
            on_shard_done: Optional[Callable[[str], None]] = None) -> Summary:
    """Runs one conversion. on_shard_done(shard_name) is called after each shard is complete
    (tests use it to interrupt a run at a known point)."""
    out = options.output_dir
    options = sources.with_split_folders(options)
    _check_output_outside_input(options)
    plan = sources.build_plan(options)
    _check_not_empty(plan, options)
    fingerprint = plan_fingerprint(options, plan)
    shards = [s for record_set in plan.record_sets for s in assign_shards(record_set, options)]
    start = _prepare_output(out, options, fingerprint)
    if start == _COMPLETE:
        return _already_complete(out)
    names = [s.name for s in shards]
    # Only a resumed run can have done-records; a fresh one skips a read per shard.
    records = convert_output.finished_shards(out, names) if start == _RESUME else dict.fromkeys(names)
    pending = [s for s in shards if records[s.name] is None]
    for shard, record in _write_shards(out, pending, options, on_shard_done):
        records[shard.name] = record
    return _finish(out, options, plan, shards, records, fingerprint)


def _check_output_outside_input(options: ConvertOptions) -> None:
    if "://" in options.output_dir:
        return
    out = os.path.realpath(options.output_dir)
    for input_dir in filter(None, (options.input_dir, options.input_dir_b)):
        inside = os.path.commonpath([out, os.path.realpath(input_dir)])
        if inside == os.path.realpath(input_dir):
            raise ConvertError(f"{options.output_dir}: is inside the input folder {input_dir}; "
                               "expected an output folder outside it (its files would be read "
                               "as input next time)")


def _check_not_empty(plan: sources.SourcePlan, options: ConvertOptions) -> None:
    for record_set in plan.record_sets:
        if not record_set.items:
            raise ConvertError(f"{record_set.source}: no usable image files among "
                               f"{plan.num_found} found; expected {_expectation(options)}")


def _expectation(options: ConvertOptions) -> str:
    if options.mode == "paired" and options.input_dir_b:
        return "image files with the same names in both folders"
    return "files ending in .jpg, .png, ... (see sources.IMAGE_EXTENSIONS)"


_FRESH, _RESUME, _COMPLETE = "fresh", "resume", "complete"


def _prepare_output(out: str, options: ConvertOptions, fingerprint: Dict) -> str:
    """Makes OUT ready -> _FRESH, _RESUME (an interrupted run goes on) or _COMPLETE (--resume
    found the dataset already complete)."""
    try:
        tf.io.gfile.makedirs(out)
    except tf.errors.OpError as e:
        raise ConvertError(f"{out}: cannot create the output folder ({e.message})") from None
    if options.overwrite:
        convert_output.remove_dataset(out)
    elif options.resume and convert_output.has_progress(out):
        convert_output.check_plan(out, fingerprint)
        convert_output.remove_temps(out)
        return _RESUME
    elif options.resume and convert_output.has_manifest(out):
        _check_complete_matches(out, fingerprint)
        return _COMPLETE
    elif convert_output.holds_dataset(out):
        raise ConvertError(f"{out}: already holds a dataset (or an unfinished conversion without "
                           "a record of its progress); pass --resume to finish an interrupted run "
                           "or --overwrite to replace it")
    convert_output.start_progress(out, fingerprint)
    return _FRESH


def _check_complete_matches(out: str, fingerprint: Dict) -> None:
    if schema.read_manifest(out).get("plan") != fingerprint:
        raise ConvertError(f"{schema.manifest_path(out)}: a complete dataset made with other "
                           "options or input files is already there; pass --overwrite to replace it")


def _already_complete(out: str) -> Summary:
    manifest = schema.read_manifest(out)
    rejects = convert_output.join(out, schema.REJECTS_NAME)
    return Summary(manifest, schema.manifest_path(out),
                   rejects if tf.io.gfile.exists(rejects) else None, [], already_complete=True)


def _write_shards(out: str, pending: List[Shard], options: ConvertOptions, on_shard_done):
    """Yields (shard, done_record) as each pending shard is complete, in order.

    A shard is completed (writer closed, which is the upload on gs://; renamed into place;
    done-record written) on a background thread while the next shard's records are written:
    on gs:// those are network round trips that would otherwise leave the decoding workers
    idle. Shard i is reported only once shard i+1's records are written, before shard i+1 is
    completed, so an interruption in on_shard_done(i) leaves exactly shards 0..i complete."""
    tasks = (item.task for shard in pending for item in shard.items)
    progress = ProgressLine(sum(len(shard.items) for shard in pending))
    try:
        with ResultStream(tasks, options.size, options.edge_sigma, options.num_workers) as stream, \
                concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="complete-shard") as completer:
            results = iter(stream)
            completing = None  # (shard, future) of the shard before the one being written
            for shard in pending:
                writer, record = _write_records(out, shard, results, options.size, progress)
                try:
                    if completing is not None:
                        yield from _reported(*completing, on_shard_done)
                except BaseException:
                    _discard(writer, convert_output.tmp_path(out, shard.name))
                    raise
                completing = shard, completer.submit(_complete_shard, out, shard.name, writer, record)
            if completing is not None:
                yield from _reported(*completing, on_shard_done)
    except concurrent.futures.process.BrokenProcessPool:
        raise ConvertError(f"{out}: a decoding worker process died (out of memory?); rerun with "
                           "--resume, perhaps with fewer --num_workers") from None
    finally:
        progress.close()


def _reported(shard: Shard, completion: concurrent.futures.Future, on_shard_done):
    yield shard, completion.result()
    if on_shard_done:
        on_shard_done(shard.name)


def _write_records(out: str, shard: Shard, results, size: int, progress: ProgressLine):
    """-> (the open writer of the shard's temporary file, its done-record so far)."""
    tmp = convert_output.tmp_path(out, shard.name)
    record = {"shard": shard.name, "num_examples": 0, "files_written": 0, "rejects": [],
              "identical_pairs": 0, "num_upscaled": 0, "label_counts": {}}
    writer = tf.io.TFRecordWriter(tmp)
    try:
        for item in shard.items:
            _add(record, writer, shard.record_set, item, next(results), size)
            progress.advance()
    except BaseException:
        _discard(writer, tmp)
        raise
    return writer, record


def _complete_shard(out: str, shard_name: str, writer, record: Dict) -> Dict:
    tmp = convert_output.tmp_path(out, shard_name)
    try:
        writer.close()
    except BaseException:
        _remove_quietly(tmp)
        raise
    final = convert_output.join(out, shard_name)
    tf.io.gfile.rename(tmp, final, overwrite=True)
    record["bytes"] = tf.io.gfile.stat(final).length
    schema.write_json_atomically(convert_output.progress_path(out, shard_name), record)
    return record


def _discard(writer, tmp: str) -> None:
    try:
        writer.close()
    except tf.errors.OpError:
        pass
    _remove_quietly(tmp)


def _add(record: Dict, writer, record_set: sources.RecordSet, item: sources.Item,
         result: Result, size: int) -> None:
    if result.encoded is None:
        record["rejects"].extend([sources.printable(p), reason] for p, reason in result.rejects)
        return
    writer.write(_record(record_set.record_kind, item, result, size))
    record["num_examples"] += 1
    record["files_written"] += record_set.files_per_record
    record["identical_pairs"] += int(result.identical)
    record["num_upscaled"] += int(result.upscaled)
    label = str(item.label)
    record["label_counts"][label] = record["label_counts"].get(label, 0) + 1


def _record(record_kind: str, item: sources.Item, result: Result, size: int) -> bytes:
    if record_kind == sources.RECORD_PAIR:
        return schema.serialize_example(result.encoded, size, size, item.filename,
                                        encoded_b=result.encoded_b, filename_b=item.filename_b)
    if record_kind == sources.RECORD_B_HALF:
        return schema.serialize_example(result.encoded_b, size, size, _opaque_name(item.filename), label=item.label)
    return schema.serialize_example(result.encoded, size, size, item.filename, label=item.label)


def _opaque_name(filename: str) -> str:
    """--split_pairs: domain b must not carry its partner's name, or the pairing leaks by name."""
    return "b-half/" + hashlib.sha256(("split_pairs:" + filename).encode("utf-8")).hexdigest()[:16]


def _remove_quietly(path: str) -> None:
    try:
        tf.io.gfile.remove(path)
    except tf.errors.OpError:
        pass


def _finish(out: str, options: ConvertOptions, plan: sources.SourcePlan, shards: List[Shard],
            records: Dict[str, Dict], fingerprint: Dict) -> Summary:
    rejects = convert_manifest.all_rejects(plan, [records[s.name] for s in shards])
    rejects_path = convert_output.write_rejects(out, rejects)
    manifest = convert_manifest.build(options, plan, shards, records, rejects, fingerprint)
    empty = convert_manifest.empty_sets(manifest)
    if empty:
        for shard in shards:
            _remove_quietly(convert_output.join(out, shard.name))
        convert_output.remove_progress(out)
        raise ConvertError(f"{empty[0]}: none of the {plan.num_found} files found could be "
                           f"converted; see {rejects_path} for each file's reason")
    path = schema.write_manifest(out, manifest)
    convert_output.remove_progress(out)
    return Summary(manifest, path, rejects_path, convert_manifest.warnings(manifest, options))


def report(summary: Summary, out: str, stream: TextIO = None, errors: TextIO = None) -> None:
    """One result line on stdout; warnings on stderr."""
    stream, errors = stream or sys.stdout, errors or sys.stderr
    m = summary.manifest
    if summary.already_complete:
        print(f"{out}: already complete ({m['num_examples']} examples); nothing to do", file=stream)
        return
    rejected = (f"; {m['num_rejected']} of {m['num_found']} files rejected, see "
                f"{summary.rejects_path}" if m["num_rejected"] else "")
    split = f" (split {m['split']})" if m.get("split") else ""
    print(f"wrote {m['num_examples']} examples in {len(m['shards'])} shard(s) to {out}{split}"
          f"{rejected}", file=stream)
    for warning in summary.warnings:
        print(warning, file=errors)
