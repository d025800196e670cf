#!/usr/bin/env bash
# Split a big collection into N shards and encode them as N independent jobs (here with xargs on one
# machine; the same `--shard I/N` lines can go to any scheduler or to different machines). Each file lands in
# exactly one shard, chosen by a hash of its path, so the split is stable when files are added.
set -euo pipefail
in_dir=${1:?usage: shards.sh IN_DIR OUT_DIR [N]}
out_dir=${2:?usage: shards.sh IN_DIR OUT_DIR [N]}
n=${3:-4}
seq 0 $((n - 1)) | xargs -P "$n" -I{} \
  icisp --threads 1 encode "$in_dir" -o "$out_dir" --shard "{}/$n" --skip-existing --json "$out_dir/summary-{}.json"
# with GNU parallel: parallel icisp --threads 1 encode "$in_dir" -o "$out_dir" --shard {}/$n ::: $(seq 0 $((n-1)))
