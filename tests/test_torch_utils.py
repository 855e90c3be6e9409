"""Device/dtype selection and tensor accounting for the transformers backends."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from parse_vos_ros.backends import BackendLoadError  # noqa: E402
from parse_vos_ros.torch_utils import select_device, select_dtype, tensor_bytes  # noqa: E402

pytestmark = pytest.mark.ml


def test_device_selection() -> None:
    assert select_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(BackendLoadError, match="no CUDA device"):
            select_device("cuda")
    with pytest.raises(BackendLoadError, match="unknown device"):
        select_device("tpu")


def test_dtype_is_float32_on_cpu_and_half_on_gpu() -> None:
    assert select_dtype(torch.device("cpu")) == torch.float32
    if torch.cuda.is_available():
        assert select_dtype(torch.device("cuda")) in (torch.bfloat16, torch.float16)


def test_tensor_bytes_counts_each_storage_once() -> None:
    a = torch.zeros(10, 10)  # 400 bytes
    view = a[2:5]  # shares a's storage
    b = torch.zeros(3, dtype=torch.bfloat16)  # 6 bytes
    assert tensor_bytes({"x": [a, view], "y": ({"z": b}, 7, "text")}) == 406
    assert tensor_bytes([]) == 0
