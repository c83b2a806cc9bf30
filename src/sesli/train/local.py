"""An accelerator for a run nested inside another run's process: this process only, float32.

A fine-tuning run whose training targets are missing trains its aligner first, from inside its own
``build``. By then the process is already inside Accelerate: it has one ``AcceleratorState`` (one
mixed-precision setting, fixed for the process, so a second ``Accelerator`` asking for another
raises) and, under ``accelerate launch``, a process group in which only rank 0 trains the aligner
while the other ranks wait at a barrier, so the aligner must not join any collective (DDP's
broadcast, all-reduce, barriers). :class:`LocalAccelerator` implements the part of
``accelerate.Accelerator`` the engine uses, for one device, in float32, with no process group;
``Engine(..., accelerator=LocalAccelerator(device))`` runs the same loop with it.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from accelerate.utils import send_to_device
from torch import nn
from torch.utils.data import DataLoader


class DeviceLoader:
    """A DataLoader whose batches are moved to ``device``, with ``set_epoch`` as Accelerate's has."""

    def __init__(self, loader: DataLoader, device: torch.device) -> None:
        self.loader, self.device = loader, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        for batch in self.loader:
            yield send_to_device(batch, self.device)

    def set_epoch(self, epoch: int) -> None:
        sampler = getattr(self.loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)


class LocalAccelerator:
    """What the engine asks of ``accelerate.Accelerator``, for one process on one device, in fp32.

    Args:
        device: where modules and batches go.
    """

    is_main_process = True
    is_local_main_process = True
    num_processes = 1
    process_index = 0
    mixed_precision = "no"
    scaler = None

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)

    def prepare(self, *objects: Any) -> Any:
        """Modules to the device, DataLoaders wrapped to move batches; optimizers as they are."""
        out = tuple(self._prepare(o) for o in objects)
        return out[0] if len(out) == 1 else out

    def _prepare(self, obj: Any) -> Any:
        if isinstance(obj, nn.Module):
            return obj.to(self.device)
        if isinstance(obj, DataLoader):
            return DeviceLoader(obj, self.device)
        return obj

    def unwrap_model(self, model: nn.Module) -> nn.Module:
        return model

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def unscale_gradients(self, optimizer: Any = None) -> None:
        """Nothing to unscale: no grad scaler in float32."""

    def no_sync(self, model: nn.Module) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def skip_first_batches(self, loader: Iterable[Any], num_batches: int) -> Iterable[Any]:
        return itertools.islice(loader, num_batches, None)

    def reduce(self, tensor: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return tensor

    def wait_for_everyone(self) -> None:
        """One process: nobody to wait for."""

    def print(self, *args: Any, **kwargs: Any) -> None:
        print(*args, **kwargs)

    def end_training(self) -> None:
        """No trackers, no process group to close."""


__all__ = ["DeviceLoader", "LocalAccelerator"]
