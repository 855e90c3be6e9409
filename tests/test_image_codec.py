"""Image message conversion without cv_bridge: every supported encoding, padding, byte order, faults."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parse_vos_ros import image_codec as ic

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, size=(5, 6, 3), dtype=np.uint8)


def _padded(rows: np.ndarray, pad: int) -> tuple[int, bytes]:
    """Append ``pad`` junk bytes to every row of a ``(H, row_bytes)`` uint8 array."""
    junk = np.full((rows.shape[0], pad), 0xAB, dtype=np.uint8)
    full = np.concatenate([rows, junk], axis=1)
    return full.shape[1], full.tobytes()


@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize(
    ("encoding", "make"),
    [
        ("rgb8", lambda im: im),
        ("bgr8", lambda im: im[:, :, ::-1]),
        ("rgba8", lambda im: np.concatenate([im, np.full((*im.shape[:2], 1), 9, np.uint8)], axis=2)),
        ("bgra8", lambda im: np.concatenate([im[:, :, ::-1], np.full((*im.shape[:2], 1), 9, np.uint8)], axis=2)),
    ],
)
def test_color_encodings_round_trip_with_padding(encoding: str, make, pad: int) -> None:
    pixels = np.ascontiguousarray(make(RGB))
    h, w, c = pixels.shape
    step, data = _padded(pixels.reshape(h, w * c), pad)
    out = ic.decode_image(encoding, h, w, step, 0, data)
    assert out.shape == (h, w, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, RGB)


def test_mono8_is_replicated_to_three_channels() -> None:
    gray = RGB[:, :, 0]
    step, data = _padded(gray, 2)
    out = ic.decode_image("MONO8", 5, 6, step, 0, data)
    for ch in range(3):
        np.testing.assert_array_equal(out[:, :, ch], gray)


@pytest.mark.parametrize("bigendian", [0, 1])
def test_mono16_honours_byte_order_and_keeps_top_byte(bigendian: int) -> None:
    values = RNG.integers(0, 65536, size=(4, 6), dtype=np.uint16)
    raw = values.astype(">u2" if bigendian else "<u2").view(np.uint8).reshape(4, 12)
    step, data = _padded(raw, 4)
    out = ic.decode_image("mono16", 4, 6, step, bigendian, data)
    np.testing.assert_array_equal(out[:, :, 1], (values >> 8).astype(np.uint8))


def _pack_422(y: np.ndarray, u: np.ndarray, v: np.ndarray, order: str) -> bytes:
    """Pack (H, W) luma and (H, W/2) chroma planes as UYVY or YUYV bytes."""
    h, w = y.shape
    packed = np.empty((h, 2 * w), dtype=np.uint8)
    planes = {"Y0": y[:, 0::2], "Y1": y[:, 1::2], "U": u, "V": v}
    for pos, name in enumerate(["U", "Y0", "V", "Y1"] if order == "uyvy" else ["Y0", "U", "Y1", "V"]):
        packed[:, pos::4] = planes[name]
    return packed.tobytes()


@pytest.mark.parametrize(("encoding", "order"), [("yuv422", "uyvy"), ("uyvy", "uyvy"), ("yuv422_yuy2", "yuyv"),
                                                 ("yuyv", "yuyv")])
def test_yuv422_byte_orders(encoding: str, order: str) -> None:
    # Neutral chroma: video-range luma maps to gray (Y - 16) * 255 / 219, pixel by pixel.
    y = RNG.integers(16, 236, size=(4, 6), dtype=np.uint8)
    neutral = np.full((4, 3), 128, np.uint8)
    out = ic.decode_image(encoding, 4, 6, 12, 0, _pack_422(y, neutral, neutral, order))
    expected = np.clip((y.astype(float) - 16) * 255 / 219, 0, 255)
    assert np.abs(out.astype(float) - expected[:, :, None]).max() <= 2
    # Strong U (blue difference) must come out blue, strong V red: catches swapped byte positions.
    mid = np.full((4, 6), 120, np.uint8)
    blue = ic.decode_image(encoding, 4, 6, 12, 0, _pack_422(mid, np.full((4, 3), 240, np.uint8), neutral, order))
    red = ic.decode_image(encoding, 4, 6, 12, 0, _pack_422(mid, neutral, np.full((4, 3), 240, np.uint8), order))
    assert (blue[:, :, 2] > blue[:, :, 0] + 100).all() and (red[:, :, 0] > red[:, :, 2] + 100).all()


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (("rgb8", 0, 6, 18, 0, b""), ic.EMPTY),
        (("rgb8", 5, 0, 0, 0, b""), ic.EMPTY),
        (("rgb8", 5, 6, 17, 0, bytes(85)), ic.SIZE_MISMATCH),  # step shorter than a row
        (("rgb8", 5, 6, 18, 0, bytes(89)), ic.SIZE_MISMATCH),  # data shorter than step*height
        (("rgb8", 5, 6, 18, 0, bytes(91)), ic.SIZE_MISMATCH),  # data longer than step*height
        (("yuv422", 5, 5, 10, 0, bytes(50)), ic.SIZE_MISMATCH),  # odd width for 4:2:2
        (("mono16", 2, 2, 5, 0, bytes(10)), ic.SIZE_MISMATCH),  # odd step for 16-bit
        (("bayer_rggb8", 5, 6, 6, 0, bytes(30)), ic.BAD_ENCODING),
        (("32FC1", 5, 6, 24, 0, bytes(120)), ic.BAD_ENCODING),
        (("", 5, 6, 18, 0, bytes(90)), ic.BAD_ENCODING),
    ],
)
def test_bad_messages_are_rejected_with_a_fault_kind(args: tuple, kind: str) -> None:
    with pytest.raises(ic.ImageDecodeError) as err:
        ic.decode_image(*args)
    assert err.value.kind == kind
    assert str(err.value)


def test_huge_frames_are_rejected_before_touching_data() -> None:
    with pytest.raises(ic.ImageDecodeError) as err:
        ic.decode_image("rgb8", 10_000, 10_000, 30_000, 0, b"", max_pixels=4096 * 4096)
    assert err.value.kind == ic.TOO_LARGE and "max_image_pixels" in str(err.value)


def test_encoders_round_trip() -> None:
    raw = ic.encode_rgb8(RGB)
    assert (raw.height, raw.width, raw.step, raw.encoding) == (5, 6, 18, "rgb8")
    np.testing.assert_array_equal(ic.decode_image(raw.encoding, raw.height, raw.width, raw.step, 0, raw.data), RGB)
    mask = RGB[:, :, 0] > 128
    m = ic.encode_mono8(mask)
    assert set(np.frombuffer(m.data, np.uint8).tolist()) <= {0, 255}
    np.testing.assert_array_equal(ic.decode_mask(m.height, m.width, m.step, m.encoding, m.data), mask)
    with pytest.raises(ValueError, match="H, W, 3"):
        ic.encode_rgb8(mask)


def test_overlay_tints_mask_and_draws_box() -> None:
    image = np.zeros((20, 20, 3), np.uint8)
    mask = np.zeros((20, 20), bool)
    mask[5:10, 5:10] = True
    out = ic.overlay(image, mask, np.array([2.0, 2.0, 15.0, 15.0]))
    assert out[7, 7, 2] > 100 and out[0, 0].sum() == 0 and out[2, 8].sum() > 0  # tinted inside, box drawn
    assert image.sum() == 0  # input untouched


@settings(max_examples=300, deadline=None)
@given(
    encoding=st.sampled_from([*ic.SUPPORTED_ENCODINGS, "bgr16", "8UC3", "nonsense"]),
    height=st.integers(-2, 9),
    width=st.integers(-2, 9),
    step=st.integers(-1, 40),
    bigendian=st.integers(0, 1),
    data=st.binary(max_size=400),
)
def test_fuzz_decode_only_raises_decode_errors(encoding, height, width, step, bigendian, data) -> None:
    try:
        out = ic.decode_image(encoding, height, width, step, bigendian, data, max_pixels=64)
    except ic.ImageDecodeError as exc:
        assert exc.kind in (ic.EMPTY, ic.SIZE_MISMATCH, ic.BAD_ENCODING, ic.TOO_LARGE)
        return
    assert out.shape == (height, width, 3) and out.dtype == np.uint8
