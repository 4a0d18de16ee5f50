#!/usr/bin/env bash
# Time to first 90% Fashion-MNIST test accuracy (issue 10): this tree's
# `coordinator run --workers 2` against a baseline build's, on
# examples/fashion-mnist-fast.yaml, alternating ROUNDS times (default 2) so
# that both builds see the same machine. The clock runs from the command's
# start, so start-up counts. docs/benchmarks.md keeps the figures.
#
#   scripts/time-to-90.sh [BASELINE]   # BASELINE: a commit, default 65e3b80,
#                                      # the build before issue 10
#
# Needs what `make build` needs; the baseline is built in a temporary git
# worktree. Prints one line per run: build, seconds to 90% (-1: never),
# seconds in all, best test accuracy.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
base=${1:-65e3b80}
rounds=${ROUNDS:-2}
work=$(mktemp -d)
finish() {
  git -C "$root" worktree remove --force "$work/base" 2>/dev/null || true
  rm -rf "$work"
}
trap finish EXIT

make -C "$root" -s build
git -C "$root" worktree add -q --detach "$work/base" "$base"
(cd "$work/base" && go build -tags openblas -o "$work/bin/" ./cmd/coordinator)

# run BIN NAME: one job, its epoch lines stamped with seconds since start.
run() {
  local out=$work/$2 start line
  sed "s#dir: runs/fashion-mnist-fast#dir: $out#" "$root/examples/fashion-mnist-fast.yaml" >"$work/job.yaml"
  start=$(date +%s.%N)
  "$1" run -f "$work/job.yaml" --workers 2 --data-dir "$out.data" 2>&1 | while IFS= read -r line; do
    case $line in *epoch*test*) echo "$(date +%s.%N) $line" ;; esac
  done >"$out.log"
  awk -v start="$start" -v end="$(date +%s.%N)" -v name="$2" '
    { for (i = 1; i < NF; i++) if ($i == "test") { a = $(i + 1); sub("%", "", a); a += 0
        if (a > best) best = a
        if (a >= 90 && !t) t = $1 - start } }
    END { printf "%s\t%.1f\t%.1f\t%.2f%%\n", name, t ? t : -1, end - start, best }' "$out.log"
}

printf 'build\ts to 90%%\ts in all\tbest test\n'
for i in $(seq "$rounds"); do
  run "$root/bin/coordinator" "current-$i"
  run "$work/bin/coordinator" "$base-$i"
done
