"""The training loss of a recipe: cross-entropy with optional label smoothing, and, with a
teacher, Hinton et al.'s distillation term on softened logits:

    loss = (1 - w) CE(student, labels) + w T^2 KL(softmax(teacher / T) || softmax(student / T))

(T^2 keeps the soft term's gradient on the scale of the hard one as T grows.) Logits are
taken to fp32 first, so bf16/fp16 autocast changes the network's arithmetic, not the loss's."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def distillation(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 KL(softmax(teacher / T) || softmax(student / T)), averaged over the batch."""
    t = float(temperature)
    log_p = F.log_softmax(student.float() / t, dim=1)
    log_q = F.log_softmax(teacher.float() / t, dim=1)
    return F.kl_div(log_p, log_q, reduction="batchmean", log_target=True) * (t * t)


class TrainingLoss:
    """`loss(logits, labels, images)`; the teacher (eval mode, frozen) sees the same images."""

    def __init__(self, label_smoothing: float = 0.0, teacher=None, distill_weight: float = 1.0,
                 temperature: float = 1.0):
        self.label_smoothing, self.teacher = label_smoothing, teacher
        self.distill_weight, self.temperature = distill_weight, temperature

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor,
                 images: torch.Tensor) -> torch.Tensor:
        w = self.distill_weight if self.teacher is not None else 0.0
        loss = 0.0
        if w < 1:
            loss = (1 - w) * F.cross_entropy(logits.float(), labels,
                                             label_smoothing=self.label_smoothing)
        if w > 0:
            with torch.no_grad():
                target = self.teacher(images)
            loss = loss + w * distillation(logits, target, self.temperature)
        return loss
