"""Builds dataset.json (the converter's manifest) and its warnings from the shards' done-records.

Keys, beyond schema_version (added by schema.write_manifest):
  mode, height, width, channels, image_format, resize, min_side, seed
  num_found          entries found under the input folder(s)
  num_rejected       rows of rejects.csv
  num_files_written  input files that went into records;  num_files_written + num_rejected
                     == num_found (a paired record from two folders uses two files)
  num_examples       records in all shards (unpaired: a + b)
  shards, shard_sizes  names relative to the manifest's folder, and their record counts
  source             the input folder (absolute); source_b for a second folder
  split              --split: the split folder of a pix2pix/CycleGAN layout that was read
  labels             class-folder name -> label ({} without class folders); label_counts
  num_upscaled       images whose short side was below --size (blurry when upscaled)
  plan               options and input-list digest (--resume checks it)
  paired:            pairing (side_by_side | two_folders | edges), identical_pairs,
                     edges ("canny sigma=...") with --make_edges
  unpaired:          domains {a|b: {shards, shard_sizes, num_examples, source}}, split_pairs,
                     identical_pairs with --split_pairs
"""
from typing import Dict, List, Tuple

from trainer.data import image_io, sources

IDENTICAL_WARNING = ("WARNING: A and B are identical in all {n} records of {source}: the A|B data "
                     "was probably made by a splitter that wrote the A half into both; a model "
                     "trained on it learns the identity. Fix the source data first.")
HOSTS_WARNING = ("WARNING: {count} shard(s) in record set '{prefix}' for --hosts {hosts}: each "
                 "host of a multi-host TPU slice reads its own subset of files, so use at least "
                 "{wanted} (--num_shards {wanted} or a smaller --examples_per_shard)")


def all_rejects(plan: sources.SourcePlan, records: List[Dict]) -> List[Tuple[str, str]]:
    """Rejects found while listing plus those from decoding, one row per file (split_pairs
    decodes each file for both domains), sorted by path."""
    rows = {}
    found = [(sources.printable(p), r) for p, r in plan.rejects]
    for path, reason in found + [tuple(row) for record in records for row in record["rejects"]]:
        rows.setdefault(path, reason)
    return sorted(rows.items())


def build(options, plan: sources.SourcePlan, shards, records: Dict[str, Dict],
          rejects: List[Tuple[str, str]], fingerprint: Dict) -> Dict:
    counted = [records[s.name] for s in shards if s.record_set.files_per_record > 0]
    every = [records[s.name] for s in shards]
    manifest = {
        "mode": options.mode, "height": options.size, "width": options.size, "channels": 3,
        "image_format": "png", "min_side": image_io.MIN_SIDE, "seed": options.seed,
        "resize": f"centre square crop, {image_io.RESAMPLE_NAME} resize to "
                  f"{options.size}x{options.size}",
        "num_found": plan.num_found, "num_rejected": len(rejects),
        "num_files_written": sum(r["files_written"] for r in every),
        "num_examples": sum(r["num_examples"] for r in every),
        "shards": [s.name for s in shards],
        "shard_sizes": [records[s.name]["num_examples"] for s in shards],
        "source": plan.record_sets[0].source,
        "labels": plan.labels, "label_counts": _label_counts(every),
        "num_upscaled": sum(r["num_upscaled"] for r in counted),
        "plan": fingerprint,
    }
    if options.split:
        manifest["split"] = options.split
    if options.input_dir_b:
        manifest["source_b"] = sources.printable(fingerprint["options"]["input_dir_b"])
    if options.mode == "paired":
        manifest["pairing"] = plan.pairing
        manifest["identical_pairs"] = sum(r["identical_pairs"] for r in counted)
        if options.make_edges:
            manifest["edges"] = f"canny sigma={options.edge_sigma:g}"
    if options.mode == "unpaired":
        manifest["domains"] = _domains(shards, records)
        manifest["split_pairs"] = options.split_pairs
        if options.split_pairs:
            manifest["identical_pairs"] = sum(r["identical_pairs"] for r in counted)
    return manifest


def _label_counts(records: List[Dict]) -> Dict[str, int]:
    counts = {}
    for record in records:
        for label, count in record["label_counts"].items():
            counts[label] = counts.get(label, 0) + count
    return dict(sorted(counts.items(), key=lambda kv: int(kv[0])))


def _domains(shards, records: Dict[str, Dict]) -> Dict[str, Dict]:
    domains = {}
    for shard in shards:
        domain = domains.setdefault(shard.record_set.prefix, {
            "shards": [], "shard_sizes": [], "num_examples": 0, "source": shard.record_set.source})
        domain["shards"].append(shard.name)
        domain["shard_sizes"].append(records[shard.name]["num_examples"])
        domain["num_examples"] += records[shard.name]["num_examples"]
    return domains


def empty_sets(manifest: Dict) -> List[str]:
    """Sources of record sets that ended up with no records at all."""
    if "domains" in manifest:
        return [d["source"] for d in manifest["domains"].values() if d["num_examples"] == 0]
    return [manifest["source"]] if manifest["num_examples"] == 0 else []


def warnings(manifest: Dict, options) -> List[str]:
    found = []
    paired_examples = manifest["domains"]["a"]["num_examples"] if "domains" in manifest \
        else manifest["num_examples"]
    if manifest.get("identical_pairs") and manifest["identical_pairs"] == paired_examples:
        found.append(IDENTICAL_WARNING.format(n=paired_examples, source=manifest["source"]))
    sets = manifest.get("domains") or {"train": {"shards": manifest["shards"]}}
    for prefix, record_set in sets.items():
        wanted = (options.hosts or 0) * 8
        if len(record_set["shards"]) < wanted:
            found.append(HOSTS_WARNING.format(count=len(record_set["shards"]), prefix=prefix,
                                              hosts=options.hosts, wanted=wanted))
    if manifest["num_files_written"] + manifest["num_rejected"] != manifest["num_found"]:
        found.append(f"WARNING: {manifest['num_found']} files found but "
                     f"{manifest['num_files_written']} written + {manifest['num_rejected']} "
                     "rejected (a converter bug; please report it)")
    return found
