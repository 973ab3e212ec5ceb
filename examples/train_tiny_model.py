"""Train a tiny model of your own on a generated dataset (restore.torch_dataset.SpikeDataset).

    spikesim generate --config examples/configs/smoke.yaml -o data/smoke
    PYTHONPATH=. python examples/train_tiny_model.py data/smoke --steps 200

The model sees a 32-step spike window (a 32-channel image) of a random 32×32 crop with
the paper's flips and predicts the charge per step of an ideal in-focus pixel
(``target · to_lambda``); nothing here is DeSpike's code.
"""

import argparse

import torch
from torch import nn

from restore.torch_dataset import SpikeDataset


def tiny_model(window: int) -> nn.Module:
    """Two 3×3 convolutions: ``(B, window, h, w)`` spikes -> ``(B, 1, h, w)`` charge/step."""
    return nn.Sequential(nn.Conv2d(window, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 1, 3, padding=1))


def train_step(model: nn.Module, optimizer, batch: dict) -> float:
    """One optimiser step on a batch of :class:`SpikeDataset` items; returns the MSE loss."""
    x = batch["spikes"].float()
    y = (batch["target"] * batch["to_lambda"][:, None, None]).unsqueeze(1)
    loss = nn.functional.mse_loss(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def train(dataset_dir, steps: int = 200, window: int = 32, crop: int = 32, batch_size: int = 4,
          seed: int = 0, log=print) -> list[float]:
    """Train :func:`tiny_model` for ``steps`` steps; the losses, one a step."""
    torch.manual_seed(seed)
    data = SpikeDataset(dataset_dir, window=window, crop=crop, flips=True, calibration="none",
                        seed=seed)
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed))
    model = tiny_model(window)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses, epoch = [], 0
    while len(losses) < steps:
        data.set_epoch(epoch)
        for batch in loader:
            losses.append(train_step(model, optimizer, batch))
            if len(losses) % 50 == 0 or len(losses) == steps:
                log(f"step {len(losses)}: loss {losses[-1]:.3g}")
            if len(losses) == steps:
                break
        epoch += 1
    return losses


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", help="a `spikesim generate` directory")
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    train(args.dataset, steps=args.steps)
