"""Training: one :class:`Settings` object describes a run; :func:`fit` trains with a checkpoint
each epoch (written atomically) and resumes from it.

A checkpoint holds the model and optimiser state, the epoch, the training curves, the global
torch RNG state (dropout) and the settings, all loadable with ``torch.load(weights_only=True)``.
The batch order of epoch ``e`` is drawn from ``(seed, e)`` alone, so killing a run at any point
and resuming it gives the weights of an uninterrupted run with the same seed.
"""

from __future__ import annotations

import dataclasses
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from opticsim import checks
from opticsim.files import differences, read_torch, write_atomic

from .losses import ALPHA, TEMPERATURE, kd_loss
from .models import READOUTS, LinearCNN, SCLCStudent, Teacher

MODELS = ("teacher", "baseline", "student")
CHECKPOINT_KEYS = {"settings", "epoch", "model", "history", "rng"}


@dataclass(frozen=True)
class Settings:
    """Everything that determines a training run (written into its checkpoints and results).

    ``model``: ``"teacher"`` (nonlinear CNN of ``kernel_size`` convolutions with a
    ``downsample``× pool between them), ``"baseline"`` (the same, linear) or ``"student"``
    (SCLC optical student of ``spectral_kernel_size`` layers, ``readout`` ``"intensity"`` or
    ``"differential"``); all of ``channels``. ``temperature`` and ``alpha`` set the KD loss
    when a teacher is given (``alpha = 0``: labels alone).
    """

    model: str = "student"
    channels: tuple[int, ...] = (8, 16, 32)
    kernel_size: int = 3
    downsample: int = 2
    spectral_kernel_size: int = 5
    hidden: tuple[int, ...] = (512, 256)
    dropout: float = 0.5
    readout: str = "intensity"
    temperature: float = TEMPERATURE
    alpha: float = ALPHA
    epochs: int = 12
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {self.readout!r}")
        set_ = object.__setattr__
        set_(self, "channels", tuple(checks.integer("channels", c, 1) for c in self.channels))
        set_(self, "hidden", tuple(checks.integer("hidden", c, 1) for c in self.hidden))
        if not self.channels:
            raise ValueError("channels must hold at least one channel count")
        set_(self, "kernel_size", checks.integer("kernel_size", self.kernel_size, 1))
        set_(self, "downsample", checks.integer("downsample", self.downsample, 1))
        set_(self, "spectral_kernel_size",
             checks.integer("spectral_kernel_size", self.spectral_kernel_size, 1))
        set_(self, "dropout", checks.in_range("dropout", self.dropout, 0.0, 1.0))
        set_(self, "temperature", checks.positive("temperature", self.temperature))
        set_(self, "alpha", checks.in_range("alpha", self.alpha, 0.0, 1.0))
        set_(self, "epochs", checks.integer("epochs", self.epochs, 1))
        set_(self, "batch_size", checks.integer("batch_size", self.batch_size, 1))
        set_(self, "lr", checks.positive("lr", self.lr))
        set_(self, "weight_decay", checks.non_negative("weight_decay", self.weight_decay))
        set_(self, "seed", checks.integer("seed", self.seed, 0))

    def to_dict(self) -> dict:
        """JSON-ready settings (tuples as lists)."""
        return json_ready(self)

    @classmethod
    def from_dict(cls, values: dict) -> "Settings":
        """Settings from :meth:`to_dict`; ``ValueError`` naming an unknown key."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{key: tuple(v) if isinstance(v, list) else v for key, v in values.items()})


def json_ready(settings) -> dict:
    """The fields of a settings dataclass as JSON-ready values (tuples as lists)."""
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in dataclasses.asdict(settings).items()}


def build_model(settings: Settings, in_channels: int, classes: int) -> torch.nn.Module:
    """The model ``settings.model`` describes, initialised from ``settings.seed``."""
    torch.manual_seed(settings.seed)
    common = {"in_channels": in_channels, "classes": classes, "channels": settings.channels,
              "hidden": settings.hidden, "dropout": settings.dropout}
    if settings.model == "student":
        return SCLCStudent(readout=settings.readout, kernel_size=settings.spectral_kernel_size,
                           **common)
    kind = Teacher if settings.model == "teacher" else LinearCNN
    return kind(kernel_size=settings.kernel_size, downsample=settings.downsample, **common)


# --- checkpoints ------------------------------------------------------------------------------

def save_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` of ``state`` written atomically."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(Path(path), buffer.getvalue())


def load_checkpoint(path, settings: Settings | None = None) -> dict:
    """A checkpoint written by :func:`fit`, loaded with ``weights_only=True``.

    ``ValueError`` naming the file when it is not a readable checkpoint (truncated, corrupt,
    another kind of file) or when its settings differ from ``settings`` (a run cannot resume
    under other settings); ``FileNotFoundError`` when it is missing.
    """
    path = Path(path)
    state = read_torch(path, "checkpoint")
    missing = CHECKPOINT_KEYS - set(state if isinstance(state, dict) else ())
    if missing:
        raise ValueError(f"checkpoint {path} is not an opticsim kd checkpoint (it lacks "
                         f"{sorted(missing)})")
    _check_contents(path, state)
    if settings is not None and state["settings"] != settings.to_dict():
        changed = differences(state["settings"], settings.to_dict())
        raise ValueError(f"checkpoint {path} was written with other settings "
                         f"({'; '.join(changed)}); use another folder or the same settings")
    return state


def _check_contents(path: Path, state: dict) -> None:
    """``ValueError`` naming the checkpoint ``path`` unless each entry of ``state`` is of the
    kind :func:`fit` writes (a file is data: nothing in it is trusted to be well formed)."""
    model = state["model"]
    problem = None
    if not isinstance(state["settings"], dict):
        problem = f"settings is a {type(state['settings']).__name__}, not a dict"
    elif not isinstance(model, dict) or not all(
            isinstance(key, str) and torch.is_tensor(value) for key, value in model.items()):
        problem = "model is not a dict of named tensors"
    elif not isinstance(state["epoch"], int) or isinstance(state["epoch"], bool) \
            or state["epoch"] < 0:
        problem = f"epoch is {state['epoch']!r}, not a count"
    elif not isinstance(state["history"], dict):
        problem = "history is not a dict"
    elif not torch.is_tensor(state["rng"]) or state["rng"].dtype != torch.uint8:
        problem = "rng is not a torch RNG state (a uint8 tensor)"
    else:
        try:
            Settings.from_dict(state["settings"])
        except (TypeError, ValueError) as error:
            problem = f"its settings are not valid ({error})"
    if problem is not None:
        raise ValueError(f"checkpoint {path} is not a valid opticsim kd checkpoint: {problem}")


def restore(path, in_channels: int | None = None, classes: int | None = None
            ) -> tuple[torch.nn.Module, Settings]:
    """The model of a checkpoint and its settings (``ValueError`` naming the file when its
    weights do not fit the model its settings describe). ``in_channels`` and ``classes``
    default to the checkpoint's own: the input channels of its first convolution and the
    outputs of its last linear layer."""
    state = load_checkpoint(path)
    settings = Settings.from_dict(state["settings"])
    tensors = [value for value in state["model"].values() if torch.is_tensor(value)]
    if in_channels is None:
        in_channels = next((int(t.shape[1]) for t in tensors if t.ndim == 4), 0)
    if classes is None:
        classes = ([int(t.shape[0]) for t in tensors if t.ndim == 2] or [0])[-1]
    try:
        model = build_model(settings, in_channels, classes)
        model.load_state_dict(state["model"])
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"checkpoint {path} does not fit a {settings.model} with its settings "
                         f"and {in_channels} input channels, {classes} classes: {error}") from None
    return model.eval(), settings


def restore_student(path, in_channels: int | None = None,
                    classes: int | None = None) -> SCLCStudent:
    """The optical student of a checkpoint (:func:`restore`); ``ValueError`` naming the file
    when it holds another model."""
    student, _ = restore(path, in_channels, classes)
    if not isinstance(student, SCLCStudent):
        raise ValueError(f"{path} is not an optical student's checkpoint")
    return student


# --- training --------------------------------------------------------------------------------

def predict(model: torch.nn.Module, images, batch_size: int = 256, device="cpu") -> torch.Tensor:
    """Logits of ``model`` in eval mode for ``images`` ``(N, C, H, W)``, on the CPU."""
    model.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = torch.as_tensor(images[start:start + batch_size]).to(device)
            outputs.append(model(batch).cpu())
    return torch.cat(outputs)


def _order(seed: int, epoch: int, count: int) -> torch.Tensor:
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def fit(settings: Settings, images, labels, *, teacher_logits=None, validation=None,
        checkpoint=None, resume: bool = False, device="cpu", progress: bool = True,
        desc: str | None = None, model: torch.nn.Module | None = None
        ) -> tuple[torch.nn.Module, dict]:
    """Train ``settings.model`` on ``images`` ``(N, C, H, W)`` and ``labels`` ``(N,)`` (or
    ``(N, H, W)`` maps with a segmentation ``model``), with the KD loss against
    ``teacher_logits`` when given (else cross-entropy). Adam, cosine learning-rate decay.

    ``validation``: optional ``(images, labels)`` held out from training, scored after every
    epoch in eval mode without gradients (no random numbers drawn: the training is the same
    with or without it).

    ``checkpoint``: a file written atomically after every epoch; with ``resume`` training
    continues from it (same settings required), and an existing checkpoint is never replaced
    without ``resume`` (``FileExistsError``). Returns the model (eval mode) and the history per
    epoch, each a mean over the epoch's training batches (train mode: dropout on) except the
    last: ``"loss"`` (the objective, the KD loss with a teacher), ``"cross_entropy"`` (against
    the labels, the same quantity for every model), ``"train_accuracy"`` and, with
    ``validation``, ``"validation_accuracy"`` (pixel accuracy for maps). Epochs a checkpoint
    of an older version did not record are ``None``.
    """
    images = torch.as_tensor(images)
    labels = torch.as_tensor(labels, dtype=torch.long)
    if len(images) != len(labels):
        raise ValueError(f"images ({len(images)}) and labels ({len(labels)}) differ in length")
    if teacher_logits is not None:
        teacher_logits = torch.as_tensor(teacher_logits)
        if len(teacher_logits) != len(images):
            raise ValueError(f"teacher_logits ({len(teacher_logits)}) and images "
                             f"({len(images)}) differ in length")
    if validation is not None:
        validation_images, validation_labels = (torch.as_tensor(validation[0]),
                                                torch.as_tensor(validation[1], dtype=torch.long))
        if len(validation_images) != len(validation_labels):
            raise ValueError(f"validation images ({len(validation_images)}) and labels "
                             f"({len(validation_labels)}) differ in length")
    classes = int(labels.max()) + 1 if teacher_logits is None else teacher_logits.shape[1]
    if model is None:
        model = build_model(settings, images.shape[1], max(classes, 2))
    model = model.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.lr,
                                 weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, settings.epochs)
    history = {"loss": [], "cross_entropy": [], "train_accuracy": []}
    if validation is not None:
        history["validation_accuracy"] = []
    start = 0
    checkpoint = None if checkpoint is None else Path(checkpoint)
    if checkpoint is not None and checkpoint.exists():
        if not resume:
            raise FileExistsError(f"checkpoint {checkpoint} exists; resume it or choose another "
                                  "folder")
        state = load_checkpoint(checkpoint, settings)
        try:
            model.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
            schedule.load_state_dict(state["schedule"])
            history = {key: [None if v is None else float(v)       # None: not recorded then
                             for v in state["history"].get(key, [None] * state["epoch"])]
                       for key in history}
            torch.set_rng_state(state["rng"])
        except (RuntimeError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"checkpoint {checkpoint} does not fit this model: {error}") from None
        start = state["epoch"]
    else:
        torch.manual_seed(settings.seed)
    count = len(images)
    steps = -(-count // settings.batch_size)
    bar = tqdm(total=settings.epochs * steps, initial=start * steps, disable=not progress,
               desc=desc or settings.model, unit="batch", file=sys.stderr, leave=False)
    with bar:
        for epoch in range(start, settings.epochs):
            model.train()
            total, cross_entropy, correct, seen = 0.0, 0.0, 0, 0
            for index in _order(settings.seed, epoch, count).split(settings.batch_size):
                batch, target = images[index].to(device), labels[index].to(device)
                soft = None if teacher_logits is None else teacher_logits[index].to(device)
                logits = model(batch)
                loss = kd_loss(logits, soft, target, settings.temperature, settings.alpha)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total += loss.item() * len(index)
                cross_entropy += F.cross_entropy(logits.detach(), target).item() * len(index)
                correct += int((logits.argmax(1) == target).sum())
                seen += target.numel()
                bar.update(1)
            schedule.step()
            history["loss"].append(total / count)
            history["cross_entropy"].append(cross_entropy / count)
            history["train_accuracy"].append(correct / seen)
            if validation is not None:
                predicted = predict(model, validation_images, device=device).argmax(1)
                history["validation_accuracy"].append(
                    float((predicted == validation_labels).double().mean()))
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}",
                            acc=f"{history['train_accuracy'][-1]:.3f}")
            if checkpoint is not None:
                save_checkpoint(checkpoint, {
                    "settings": settings.to_dict(), "epoch": epoch + 1,
                    "model": model.state_dict(), "optimiser": optimiser.state_dict(),
                    "schedule": schedule.state_dict(), "history": history,
                    "rng": torch.get_rng_state()})
    return model.eval(), history

