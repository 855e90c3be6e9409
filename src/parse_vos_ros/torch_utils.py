"""Device and dtype selection shared by the transformers backends (imported only when one is chosen).

``config.device`` is ``auto`` (CUDA when available, else CPU), ``cpu`` or ``cuda``. On a GPU the
models run in half precision (bfloat16 where the GPU supports it, float16 otherwise); on the CPU they
run in float32, since half precision there is slower and less accurate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from parse_vos_ros.backends import BackendLoadError


def select_device(name: str) -> torch.device:
    """The torch device for ``config.device``; raises ``BackendLoadError`` when ``cuda`` is asked
    for and none is available (so ``fallback: embedded`` can take over)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise BackendLoadError("config key 'device' is 'cuda' but torch sees no CUDA device (set device: auto)")
        return torch.device("cuda")
    if name == "cpu":
        return torch.device("cpu")
    raise BackendLoadError(f"config key 'device': unknown device '{name}' (use auto, cpu or cuda)")


def select_dtype(device: torch.device) -> torch.dtype:
    """float32 on the CPU; bfloat16 on GPUs that support it, float16 on older ones."""
    if device.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@dataclass
class LoadedModel:
    """A transformers model in eval mode on ``device``, its processor (or None) and its dtype."""

    model: torch.nn.Module
    processor: Any
    device: torch.device
    dtype: torch.dtype


def load_local_model(model_class: str, path: str, label: str, device_name: str, *,
                     with_processor: bool = False) -> LoadedModel:
    """Load ``transformers.<model_class>`` (and its ``AutoProcessor``) from local files only.

    Args:
        model_class: e.g. ``"CLIPModel"``.
        path: the checkpoint directory (already checked by ``models.require_model``).
        label: the model's name in error messages ("GroundingDINO").
        device_name: ``config.device``.

    Raises:
        BackendLoadError: naming ``path`` when the files cannot be loaded, or the device is unusable.
    """
    device = select_device(device_name)
    dtype = select_dtype(device)
    try:
        import transformers

        processor = transformers.AutoProcessor.from_pretrained(path, local_files_only=True) if with_processor else None
        model = getattr(transformers, model_class).from_pretrained(path, local_files_only=True, dtype=dtype)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise BackendLoadError(f"cannot load {label} from {path} ({exc})") from exc
    return LoadedModel(model.to(device).eval(), processor, device, dtype)


def tensor_bytes(obj: object) -> int:
    """Total bytes of the tensors reachable through dicts, lists and tuples in ``obj`` (each storage
    counted once), for memory accounting of caches."""
    seen: set[int] = set()
    total = 0
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            key = storage.data_ptr()
            if key not in seen:
                seen.add(key)
                total += storage.nbytes()
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return total
