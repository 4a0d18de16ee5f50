"""A member process of BenchmarkGloo: one rank of PyTorch's torch.distributed
with the gloo backend, obeying the same commands as the Go member processes
of BenchmarkAllReduce, so that both are timed the same way.

Usage: python3 gloo_member.py RANK WORLD_SIZE STORE_PORT

Replies start with "@@ ". Commands, one per line on stdin:

    run ELEMS WARMUP RUNS   time RUNS all_reduce calls (gloo's ring, SUM) on
                            a float32 tensor of ELEMS after WARMUP untimed
                            ones -> "result CPUNS NS,NS,...": the process's
                            CPU time per call and each call's elapsed time;
                            a fifth field, the weight our members take, is
                            ignored: gloo has no weighted mean
    exit
"""
import sys
import time

import torch
import torch.distributed as dist


def main():
    rank, world, port = (int(a) for a in sys.argv[1:4])
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    print("@@ ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "exit":
            break
        if cmd[0] != "run":
            print(f"@@ err unknown command {cmd[0]!r}", flush=True)
            continue
        elems, warmup, runs = (int(a) for a in cmd[1:4])
        t = torch.rand(elems, dtype=torch.float32)
        dist.barrier()
        for _ in range(warmup):
            dist.all_reduce(t)
        times = []
        cpu0 = time.process_time_ns()
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            dist.all_reduce(t)
            times.append(time.perf_counter_ns() - t0)
        cpu = (time.process_time_ns() - cpu0) // runs
        print(f"@@ result {cpu} {','.join(map(str, times))}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
