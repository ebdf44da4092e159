"""How the arithmetic of a training run executes, apart from what it learns: the precision of
autocast (`fp32`, `bf16`, or `fp16` with a gradient scaler), the memory format of images and
conv weights (`channels_last`), and `torch.compile`. `None` means "the default for the
device": fp32 and no compilation everywhere (the paper's recipe, and compiling costs minutes
before the first step), channels_last on CUDA only (the same numbers in another memory
layout, which cuDNN's bf16/fp16 kernels prefer; on CPU it is often slower).

A run records the resolved options; a resumed run takes the recorded ones for whatever the
user leaves unset, and refuses a different precision (that changes what is learned)."""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, replace

from mnas.errors import MnasError

PRECISIONS = ("fp32", "bf16", "fp16")


class ExecutionError(MnasError):
    """A precision, memory format or compilation the device cannot do."""


@dataclass(frozen=True)
class Execution:
    precision: str | None = None
    channels_last: bool | None = None
    compile: bool | None = None

    def check(self) -> Execution:
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ExecutionError(f"--precision: unknown precision '{self.precision}'; choose "
                                 f"from {', '.join(PRECISIONS)}")
        return self

    def resolved(self, device) -> Execution:
        """Unset options at the device's defaults."""
        cuda = getattr(device, "type", str(device)) == "cuda"
        out = replace(self, precision=self.precision or "fp32",
                      channels_last=cuda if self.channels_last is None else self.channels_last,
                      compile=bool(self.compile))
        if out.precision == "bf16" and cuda:
            import torch
            if not torch.cuda.is_bf16_supported():
                raise ExecutionError(f"--precision bf16: {torch.cuda.get_device_name(device)} "
                                     f"has no bf16 support; use fp16 or fp32")
        return out

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def dtype(self):
        import torch
        return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]

    def autocast(self, device):
        """The autocast context of the forward pass (a no-op for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        import torch
        return torch.autocast(device.type, dtype=self.dtype)

    def grad_scaler(self, device):
        """fp16 needs loss scaling (its exponent range is bf16's minus 3 bits); others not."""
        import torch
        return torch.amp.GradScaler(device.type, enabled=self.precision == "fp16")

    def memory_format(self):
        import torch
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def prepare(self, module):
        """Conv weights in the chosen memory format (in place; the same parameters)."""
        if self.channels_last:
            import torch
            module.to(memory_format=torch.channels_last)
        return module

    def images(self, x):
        """A batch of images in the chosen memory format (4-D only)."""
        if self.channels_last and x.dim() == 4:
            import torch
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def compiled(self, model):
        """`torch.compile(model)` when asked: the training forward only (evaluation runs the
        module as it is: its other batch sizes and eval-mode BatchNorm would each compile
        again, for a pass that takes a few percent of an epoch)."""
        if not self.compile:
            return model
        import torch
        return torch.compile(model)
