"""Training throughput of the lstm_rt network in PyTorch, for comparison with burn.

The same network and step as `cargo bench -p hcp-lstm --bench train`: batch 64 x window 168 x 8
step inputs, LSTM layers of 64 (one and two), the last hidden state joined with 100 head inputs,
one linear layer to 24 x 3 outputs decoded into non-crossing quantiles (median = base + o0,
outer quantiles softplus(o1) below and softplus(o2) above), mean pinball loss at 0.1/0.5/0.9,
Adam (lr 1e-3). Random inputs: throughput does not depend on the values. Prints windows/s.

Usage: python scripts/bench_lstm_torch.py [--threads N] [--steps N]
"""

import argparse
import time

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, layers: int, hidden: int = 64, n_step: int = 8, n_head: int = 100):
        super().__init__()
        self.lstm = nn.LSTM(n_step, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden + n_head, 72)

    def forward(self, steps, head, base):
        out, _ = self.lstm(steps)
        raw = self.head(torch.cat([out[:, -1, :], head], dim=1)).view(-1, 24, 3)
        median = base + raw[:, :, 0]
        sp = nn.functional.softplus
        return median - sp(raw[:, :, 1]), median, median + sp(raw[:, :, 2])


def pinball(quantiles, target):
    total = 0.0
    for pred, tau in zip(quantiles, (0.1, 0.5, 0.9)):
        e = target - pred
        total = total + torch.maximum(tau * e, (tau - 1.0) * e).mean()
    return total / 3.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    batch, window = 64, 168
    for layers in (1, 2):
        net = Net(layers)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        data = [
            (torch.randn(batch, window, 8), torch.randn(batch, 100), torch.randn(batch, 24), torch.randn(batch, 24))
            for _ in range(8)
        ]

        def step(i):
            steps, head, base, target = data[i % len(data)]
            opt.zero_grad()
            loss = pinball(net(steps, head, base), target)
            loss.backward()
            opt.step()

        for i in range(3):
            step(i)
        t = time.perf_counter()
        for i in range(args.steps):
            step(i)
        s = time.perf_counter() - t
        print(
            f"lstm_rt pytorch {torch.__version__}, {args.threads} thread(s), {layers} layer(s) of 64, "
            f"batch 64 x window 168: {args.steps * batch / s:.1f} windows/s ({s * 1e3 / args.steps:.1f} ms/step)"
        )


if __name__ == "__main__":
    main()
