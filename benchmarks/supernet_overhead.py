"""Supernet training-step overhead: the supernet's single path vs the extracted standalone subnet,
same arch, same batch, timed side by side in interleaved rounds (median of round medians).

    .venv/bin/python benchmarks/supernet_overhead.py [--size 32] [--batch 64] [--rounds 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch

from hwnas.space import get_space
from hwnas.supernet import Supernet, extract
from hwnas.supernet.train import CL


def step_time(model, fwd, x, y, opt, n):
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(fwd(model, x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cases = [("proxyless", "entangled"), ("proxyless", "separate"), ("spos", "separate"), ("resnet", "separate")]
    print(f"input {a.size}px, batch {a.batch}, {a.threads} thread(s), {a.rounds} interleaved rounds x {a.steps} steps")
    for space, sharing in cases:
        sp = get_space(space, input_size=a.size, num_classes=10)
        torch.manual_seed(0)
        sn = Supernet(sp, sharing).train()
        arch = sp.random_arch(random.Random(1))
        net = extract(sn, arch).train()
        sn.to(memory_format=CL)
        net.to(memory_format=CL)
        x = torch.randn(a.batch, 3, a.size, a.size).contiguous(memory_format=CL)  # as hwnas trains
        y = torch.randint(0, 10, (a.batch,))
        o1 = torch.optim.SGD(sn.parameters(), lr=1e-3, momentum=0.9)
        o2 = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
        fs, fn = (lambda m, x, arch=arch: m(x, arch)), (lambda m, x: m(x))
        step_time(sn, fs, x, y, o1, 2)
        step_time(net, fn, x, y, o2, 2)
        rs, rn = [], []
        for _ in range(a.rounds):
            rs.append(step_time(sn, fs, x, y, o1, a.steps))
            rn.append(step_time(net, fn, x, y, o2, a.steps))
        s, n = statistics.median(rs), statistics.median(rn)
        print(f"{space:<10} {sharing:<10} supernet {s * 1e3:7.2f} ms/step  standalone {n * 1e3:7.2f} ms/step  "
              f"ratio {s / n:.3f}")


if __name__ == "__main__":
    main()
