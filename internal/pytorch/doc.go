// Package pytorch finds a Python interpreter with PyTorch's torch.distributed
// and its gloo backend: PyTorch 1.13, from Debian's python3-torch, is the
// baseline that the all-reduce and distributed-training benchmarks measure
// against in the same run. Only benchmarks use it; ringtrain itself runs no
// Python.
package pytorch
