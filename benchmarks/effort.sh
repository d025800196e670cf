#!/usr/bin/env bash
# What each --effort level buys on the development images: BD-rates against effort 1 (the default) and the
# mean file size at each preset, fp32, and the encode time at 768x512 from benchmarks/speed.py.
#   bash benchmarks/effort.sh [OUT_DIR]        # about 2 hours on 2 cores, most of it effort 4
set -euo pipefail
out=${1:-runs/effort}
dev=runs/dev
mkdir -p "$out"
python -m icisp_codec.evaluation.devset "$dev" > /dev/null
for effort in 1 2 3 4; do
  [ -f "$out/e$effort.json" ] || icisp eval "$dev" --presets --no-bf16 --effort "$effort" --json "$out/e$effort.json"
done
for effort in 2 3 4; do
  icisp report "$out/e$effort.json" "$out/e1.json" --markdown "$out/bd-e$effort.md"
done
# effort 4 against the peers, as the README's results table (peer results from benchmarks/peer-results)
icisp bench "$dev" --codecs jpeg,webp,avif,jxl --json "$out" --cache benchmarks/peer-results
icisp report "$out/e4.json" "$out"/{jpeg,webp,avif,jxl}.json --min-bpp 0.05 --max-bpp 0.5 \
  --markdown "$out/bd-e4-peers.md"
python benchmarks/speed.py --sizes 768x512 --what lite,lite-e2,lite-e3,lite-e4
