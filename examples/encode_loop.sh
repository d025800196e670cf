#!/usr/bin/env bash
# Encode every PNG under a folder with a plain shell loop (icisp's own folder mode does the same with
# `icisp encode IN_DIR -o OUT_DIR`). Stops at the first failure; icisp's exit code says why (README).
set -euo pipefail
in_dir=${1:?usage: encode_loop.sh IN_DIR OUT_DIR [LAMBDA]}
out_dir=${2:?usage: encode_loop.sh IN_DIR OUT_DIR [LAMBDA]}
lambda=${3:-2.5}
find "$in_dir" -type f -name '*.png' -print0 | while IFS= read -r -d '' src; do
  rel=${src#"$in_dir"/}
  dst="$out_dir/${rel%.*}.icisp"
  mkdir -p "$(dirname "$dst")"
  icisp -q encode "$src" "$dst" --lambda "$lambda" --force
done
