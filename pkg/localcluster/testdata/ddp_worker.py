"""One process of BenchmarkDDP: PyTorch DistributedDataParallel (gloo) training
the job of ddpJob in bench_test.go, for the same-run comparison.

Usage: ddp_worker.py RANK WORLD_SIZE STORE_PORT EPOCHS DATA_DIR [HIDDEN [BATCH]]

784-HIDDEN-10 MLP (HIDDEN comma-separated, 256,128 by default; ReLU, He init), cross-entropy, SGD with momentum 0.9 and
learning rate 0.05, global batch BATCH (128 by default) split over the ranks,
one thread per process. Rank 0 prints "@@ epoch E SAMPLES_PER_SEC" per epoch: the training
set's 60,000 samples over the time the epoch's steps took.
"""
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP


def idx(data_dir, name, header):
    """Reads an IDX file of Fashion-MNIST, gzipped or not."""
    path = os.path.join(data_dir, name)
    opener = gzip.open if os.path.exists(path + ".gz") else open
    with opener(path + ".gz" if opener is gzip.open else path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def main():
    rank, world, port, epochs = (int(a) for a in sys.argv[1:5])
    data_dir = sys.argv[5]
    hidden = [int(h) for h in (sys.argv[6] if len(sys.argv) > 6 else "256,128").split(",")]
    batch = int(sys.argv[7]) if len(sys.argv) > 7 else 128
    torch.set_num_threads(1)
    torch.manual_seed(1)
    x = idx(data_dir, "train-images-idx3-ubyte", 16)
    y = idx(data_dir, "train-labels-idx1-ubyte", 8)
    x = torch.from_numpy(x.reshape(-1, 784).astype(np.float32) / 255)
    y = torch.from_numpy(y.astype(np.int64))
    n = len(y)

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    layers, width = [], 784
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    net = torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))
    for m in net:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)
    model = DDP(net)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(epochs):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch))
        dist.barrier()
        t0 = time.perf_counter()
        for start in range(0, n, batch):
            step = order[start:start + batch]
            mine = step[rank::world]  # this rank's share of the global batch
            opt.zero_grad()
            loss_fn(model(x[mine]), y[mine]).backward()
            opt.step()
        dt = time.perf_counter() - t0
        if rank == 0:
            print(f"@@ epoch {epoch + 1} {n / dt:.1f}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
