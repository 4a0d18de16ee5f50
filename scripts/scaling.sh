#!/usr/bin/env bash
# The scaling table of docs/benchmarks.md: ringtrain with N worker processes
# (`coordinator serve` with its embedded etcd, one `worker` process per
# member, one BLAS thread each) against PyTorch DDP (gloo) with N ranks of
# one thread each: the same network, per-worker batch 128 (global 128·N),
# the best epoch's step rate of each, both measured here one after the other.
# Then a lone worker process against the engine (`coordinator run
# --workers 0`) with the same threads, pinned to one core and not.
#
#   scripts/scaling.sh [N ...]        (default: 1 2 4 8)
#
# Environment: BIN, the directory of the coordinator and worker binaries
# (default bin/, else PATH); RINGTRAIN_DATA, Fashion-MNIST's directory;
# HIDDEN (256,128) and EPOCHS (3); PYTHON, a python3 that imports torch
# (default: Debian's, else the first in PATH); PROFILES, a directory for the lone workers' CPU
# profiles; LONE=0 skips the lone worker's rows. TABLE=tls measures instead
# what TLS costs: for each N, ringtrain in plaintext and over mutual TLS
# (certificates from `coordinator certs init`), one after the other, and
# needs no PyTorch. Prints one tab-separated row per measurement. `make
# bench-scaling` runs it (`make bench-tls` the TLS table); it needs as many
# cores as the largest N to mean anything, and is never part of CI.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
ns=("$@"); [ ${#ns[@]} -gt 0 ] || ns=(1 2 4 8)
hidden=${HIDDEN:-256,128}
epochs=${EPOCHS:-3}
table=${TABLE:-ddp}
python=""
for p in ${PYTHON:-} /usr/bin/python3 python3; do
  if "$p" -c 'import torch, numpy' 2>/dev/null; then python=$p; break; fi
done
[ -n "$python" ] || [ "$table" = tls ] || { echo "scaling: no python3 with torch and numpy (apt-get install python3-torch, or set PYTHON)" >&2; exit 1; }
data=${RINGTRAIN_DATA:-/usr/share/datasets/fashion-mnist}
export RINGTRAIN_DATA=$data
bin=${BIN:-$root/bin}
coordinator=$bin/coordinator worker=$bin/worker
# One machine, loopback only: plaintext, as `coordinator run` has it,
# unless a run sets tls.
export RINGTRAIN_INSECURE=true
tls=""
[ -x "$coordinator" ] || coordinator=$(command -v coordinator)
[ -x "$worker" ] || worker=$(command -v worker)
[ -z "${PROFILES:-}" ] || mkdir -p "$PROFILES"
work=$(mktemp -d)
# On the way out: the OpenBLAS kernels the workers logged (a wrong pick costs
# more than anything else here), then nothing left behind.
finish() {
  kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true
  [ ! -s "$work/cores" ] || echo "# OpenBLAS kernels the workers used: $(sort -u "$work/cores" | tr '\n' ' ')"
  rm -rf "$work"
}
trap finish EXIT
# Each run takes ports from $port up; next moves it on (runs are called in
# subshells, which cannot).
port=21000
next() { port=$((port + 100)); }

# spec BATCH: the job, BenchmarkCluster's ddpJob with the given global batch.
spec() {
  local layers="" h
  for h in ${hidden//,/ }; do layers+="{units: $h, activation: relu}, "; done
  cat <<EOF
name: scaling
dataset: {name: fashion-mnist}
model:
  layers: [${layers}{units: 10, activation: softmax}]
  init: he
training: {optimizer: {kind: momentum, learning_rate: 0.05}, batch_size: $1, epochs: $epochs, seed: 1}
EOF
}

# best FILE: the largest "N samples/s" in an epoch line of FILE.
best() { grep -o '^epoch .*[0-9,]* samples/s' "$1" | grep -o '[0-9,]* samples/s' | tr -d , | sort -n | tail -1 | cut -d' ' -f1; }

# ringtrain N BATCH THREADS [PIN]: trains on a new cluster of N worker
# processes (each started under PIN, a command prefix such as "taskset -c
# 1") and prints the best epoch's samples/s.
ringtrain() {
  local n=$1 batch=$2 threads=$3 pin=${4:-} d i pids=()
  d=$(mktemp -d "$work/run.XXXX")
  local cp=127.0.0.1:$port ca=() cli=() etcd=http://127.0.0.1:$((port + 1))
  if [ -n "$tls" ]; then
    "$coordinator" certs init "$d/certs" --workers "$n" >/dev/null
    ca=(--insecure=false --tls-ca "$d/certs/ca.crt")
    cli=("${ca[@]}" --tls-cert "$d/certs/client.crt" --tls-key "$d/certs/client.key")
    etcd=https://127.0.0.1:$((port + 1))
  fi
  ${COORD_PIN:-} "$coordinator" serve --listen "$cp" --data-dir "$d/data" \
    --etcd-listen "http://127.0.0.1:$((port + 1))" --etcd-peer-listen "http://127.0.0.1:$((port + 2))" \
    ${tls:+"${ca[@]}" --tls-cert "$d/certs/coordinator.crt" --tls-key "$d/certs/coordinator.key"} 2>"$d/coordinator.log" &
  local coord=$!
  for i in $(seq 50); do "$coordinator" jobs --coordinator "$cp" "${cli[@]}" >/dev/null 2>&1 && break; sleep 0.2; done
  for i in $(seq "$n"); do
    # shellcheck disable=SC2086 # PIN is a command prefix
    $pin "$worker" --coordinator "$cp" --etcd "$etcd" --listen "127.0.0.1:$((port + 10 + 2 * i))" \
      --id "worker-$i" --threads "$threads" ${PROFILE:+--cpuprofile "$PROFILE"} \
      ${tls:+"${ca[@]}" --tls-cert "$d/certs/worker-$i.crt" --tls-key "$d/certs/worker-$i.key"} 2>"$d/w$i.log" &
    pids+=($!)
  done
  spec "$batch" >"$d/job.yaml"
  if ! timeout "${RUN_TIMEOUT:-300}" "$coordinator" submit -f "$d/job.yaml" --min-workers "$n" --watch --coordinator "$cp" "${cli[@]}" >"$d/watch.log" 2>&1; then
    echo "ringtrain N=$n failed:" >&2; tail -n 20 "$d"/*.log >&2
  fi
  kill -TERM "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true
  kill -TERM "$coord" 2>/dev/null || true; wait "$coord" 2>/dev/null || true
  grep -o 'blas_core=[^ ]*' "$d/w1.log" | head -1 | cut -d= -f2 >>"$work/cores" || true
  best "$d/watch.log"
}

# engine THREADS-PREFIX: `coordinator run --workers 0` (BLAS on every core
# it may use) and prints the best epoch's samples/s.
engine() {
  local d; d=$(mktemp -d "$work/engine.XXXX")
  spec 128 >"$d/job.yaml"
  # shellcheck disable=SC2086
  ${1:-} "$coordinator" run --workers 0 -f "$d/job.yaml" --data-dir "$d/data" >"$d/run.log" 2>&1 || tail -n 20 "$d/run.log" >&2
  best "$d/run.log"
}

# ddp N BATCH: PyTorch DDP with N ranks and the global batch BATCH; prints
# rank 0's best epoch's samples/s.
ddp() {
  local n=$1 batch=$2 r pids=() d; d=$(mktemp -d "$work/ddp.XXXX")
  for r in $(seq 0 $((n - 1))); do
    "$python" "$root/pkg/localcluster/testdata/ddp_worker.py" "$r" "$n" "$port" "$epochs" "$data" "$hidden" "$batch" >"$d/rank$r.out" 2>"$d/rank$r.err" &
    pids+=($!)
  done
  wait "${pids[@]}" || { echo "DDP N=$n failed:" >&2; tail -n 20 "$d"/rank0.err >&2; }
  awk '$1 == "@@" && $4 > m { m = $4 } END { printf "%.0f\n", m }' "$d/rank0.out"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "-" }'; }

echo "# $(nproc) cores; network 784-${hidden//,/-}-10; $epochs epochs; $(date -u +%FT%TZ)"
if [ "$table" = tls ]; then
  printf 'table\tN\tplaintext samples/s\tTLS samples/s\tTLS/plaintext\n'
  for n in "${ns[@]}"; do
    next; r=$(ringtrain "$n" $((128 * n)) 1)
    next; s=$(tls=1 ringtrain "$n" $((128 * n)) 1)
    printf 'what TLS costs, per-worker batch 128\t%s\t%s\t%s\t%s\n' "$n" "$r" "$s" "$(ratio "$s" "$r")"
  done
  exit 0
fi
printf 'table\tN\tringtrain samples/s\tDDP samples/s\tringtrain/DDP\n'
for n in "${ns[@]}"; do
  next; r=$(ringtrain "$n" $((128 * n)) 1)
  next; p=$(ddp "$n" $((128 * n)))
  printf 'per-worker batch 128\t%s\t%s\t%s\t%s\n' "$n" "$r" "$p" "$(ratio "$r" "$p")"
done

[ "${LONE:-1}" = 1 ] || exit 0
printf 'table\tcase\tlone worker samples/s\tengine samples/s\tworker/engine\n'
next; w=$(PROFILE=${PROFILES:+$PROFILES/worker-1thread.pprof} ringtrain 1 128 1)
e=$(engine "taskset -c 1")
printf 'lone worker\t1 BLAS thread, unpinned; engine on one core\t%s\t%s\t%s\n' "$w" "$e" "$(ratio "$w" "$e")"
# The coordinator keeps off the worker's core where there are cores to spare.
pin=""; [ "$(nproc)" -lt 3 ] || pin="taskset -c 2-$(($(nproc) - 1))"
next; w=$(COORD_PIN=$pin PROFILE=${PROFILES:+$PROFILES/worker-pinned.pprof} ringtrain 1 128 1 "taskset -c 1")
printf 'lone worker\tboth on one core\t%s\t%s\t%s\n' "$w" "$e" "$(ratio "$w" "$e")"
next; w=$(ringtrain 1 128 "$(nproc)")
e=$(engine)
printf 'lone worker\tBLAS on every core\t%s\t%s\t%s\n' "$w" "$e" "$(ratio "$w" "$e")"
