"""The PyTorch side of benches/throughput.rs: one epoch of the lab network
(784-128-64-10, ReLU, LogSoftmax + NLL, SGD lr 0.01 momentum 0.9) on
Fashion-MNIST's 60,000 training images, normalized like hypersweep does.

Two loops, both reading each batch's loss with .item() as a training loop
that logs does:
  dataloader: DataLoader(TensorDataset(x, y), batch_size, shuffle=True)
  fast:       preloaded tensors, torch.randperm, index once, slice batches

Prints `<loop> <batch> <samples/s>` lines, best of --reps epochs.
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(folder):
    def find(name):
        for suffix in ("", ".gz"):
            if os.path.exists(os.path.join(folder, name + suffix)):
                return os.path.join(folder, name + suffix)
        raise FileNotFoundError(name)

    images = idx(find("train-images-idx3-ubyte")).reshape(-1, 784)
    labels = idx(find("train-labels-idx1-ubyte"))
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    x = (x - x.mean()) / x.std()
    return x.contiguous(), torch.from_numpy(labels.astype(np.int64))


def network():
    return nn.Sequential(
        nn.Linear(784, 128), nn.ReLU(),
        nn.Linear(128, 64), nn.ReLU(),
        nn.Linear(64, 10), nn.LogSoftmax(dim=1),
    )


def step(model, optimizer, loss_fn, xb, yb):
    optimizer.zero_grad()
    loss = loss_fn(model(xb), yb)
    loss.backward()
    optimizer.step()
    return loss.item()


def epoch_dataloader(x, y, batch):
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.NLLLoss()
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True)
    started = time.perf_counter()
    total = 0.0
    for xb, yb in loader:
        total += step(model, optimizer, loss_fn, xb, yb)
    return time.perf_counter() - started


def epoch_fast(x, y, batch):
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.NLLLoss()
    started = time.perf_counter()
    order = torch.randperm(x.shape[0])
    xs, ys = x[order], y[order]
    total = 0.0
    for start in range(0, x.shape[0], batch):
        total += step(model, optimizer, loss_fn, xs[start : start + batch], ys[start : start + batch])
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", default="32,64,128,256")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as hypersweep's workers do
    x, y = load(args.data)
    for batch in map(int, args.batches.split(",")):
        for name, run in (("dataloader", epoch_dataloader), ("fast", epoch_fast)):
            torch.manual_seed(0)
            best = min(run(x, y, batch) for _ in range(args.reps))
            print(name, batch, round(x.shape[0] / best, 1), flush=True)


if __name__ == "__main__":
    main()
