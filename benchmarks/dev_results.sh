#!/usr/bin/env bash
# The README's results: the shipped weights against JPEG, WebP, AVIF and JPEG XL on the development images.
# Real files: every bpp is whole-file bytes x 8 / pixels. Peer results come from benchmarks/peer-results (kept in
# the repository; only what is missing there, e.g. after a library upgrade, is measured and added).
#   bash benchmarks/dev_results.sh [OUT_DIR]
set -euo pipefail
out=${1:-runs/results}
dev=runs/dev
python -m icisp_codec.evaluation.devset "$dev" > /dev/null
# fp32 (--no-bf16): the same figures on every machine, bf16-capable or not
icisp eval "$dev" --presets --no-bf16 --json "$out/icisp-lite.json" \
  --compare docs/comparison.png --compare-image astronaut.png --compare-bpp 0.3
icisp bench "$dev" --codecs jpeg,webp,avif,jxl --json "$out" --cache benchmarks/peer-results
icisp report "$out/icisp-lite.json" "$out"/{jpeg,webp,avif,jxl}.json --plot docs/rd-dev.png \
  --markdown "$out/bd-all.md"
icisp report "$out/icisp-lite.json" "$out"/{jpeg,webp,avif,jxl}.json --min-bpp 0.05 --max-bpp 0.5 \
  --markdown "$out/bd-low.md"
