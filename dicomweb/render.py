"""Rendered images and thumbnails of WADO-RS (PS3.18 §9.5, §8.3.5.1 query parameters).

A frame is rendered as a viewer would show it: the Modality LUT (rescale slope and intercept,
PS3.3 §C.11.1), then the VOI LUT (window centre and width, PS3.3 §C.11.2; the request's
``window`` overrides the dataset's), MONOCHROME1 inverted, scaled to 8 bits per channel, fitted
into the ``viewport`` and encoded as JPEG (``quality``) or PNG with Pillow. No web framework.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut, apply_voi_lut

JPEG, PNG = "image/jpeg", "image/png"
MEDIA_TYPES = (JPEG, PNG)
THUMBNAIL_SIZE = 128


class RenderError(ValueError):
    """A rendering request with bad parameters (400) or for an object without pixels (404
    when ``missing``)."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.missing = missing


@dataclass(frozen=True)
class Rendering:
    """The query parameters of a rendered request (PS3.18 Table 8.3.5-1)."""

    window: tuple[float, float, str] | None = None
    viewport: tuple[int, int] | None = None
    quality: int = 90


def parse(args: dict[str, str]) -> Rendering:
    """``window=center,width,shape`` (linear, linear-exact, sigmoid), ``viewport=vw,vh``,
    ``quality`` 1..100."""
    window = None
    if args.get("window"):
        parts = args["window"].split(",")
        try:
            center, width = float(parts[0]), float(parts[1])
        except (ValueError, IndexError):
            raise RenderError("window is center,width[,shape]") from None
        shape = parts[2].strip().lower() if len(parts) > 2 else "linear"
        if shape not in ("linear", "linear-exact", "sigmoid") or width <= 0:
            raise RenderError("window shape is linear, linear-exact or sigmoid; width > 0")
        window = (center, width, shape)
    viewport = None
    if args.get("viewport"):
        try:
            vw, vh = (int(v) for v in args["viewport"].split(",")[:2])
        except ValueError:
            raise RenderError("viewport is vw,vh") from None
        if not (0 < vw <= 4096 and 0 < vh <= 4096):
            raise RenderError("viewport sizes are 1..4096")
        viewport = (vw, vh)
    quality = 90
    if args.get("quality"):
        try:
            quality = int(args["quality"])
        except ValueError:
            raise RenderError("quality is 1..100") from None
        if not 0 < quality <= 100:
            raise RenderError("quality is 1..100")
    return Rendering(window, viewport, quality)


def _window(values: np.ndarray, center: float, width: float, shape: str) -> np.ndarray:
    """The VOI window functions of PS3.3 §C.11.2.1.2 and §C.11.2.1.3, output 0..255."""
    if shape == "sigmoid":
        return 255.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    if shape == "linear-exact":
        return np.clip((values - center) / width + 0.5, 0.0, 1.0) * 255.0
    if width <= 1:
        return np.where(values > center - 0.5, 255.0, 0.0)
    return np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0) * 255.0


def _first(value: object) -> float:
    """The first of a multi-valued DS (several windows may be proposed, PS3.3 §C.11.2.1.2)."""
    if isinstance(value, MultiValue | list | tuple):
        value = value[0]
    return float(value)  # type: ignore[arg-type]


def _stretch(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros_like(values, dtype=np.float64)
    return (values - low) * (255.0 / (high - low))


def grey(ds: Dataset, frame: np.ndarray, rendering: Rendering) -> np.ndarray:
    """One monochrome frame as 8-bit display values."""
    values = np.asarray(apply_modality_lut(frame, ds), dtype=np.float64)
    if rendering.window is not None:
        out = _window(values, *rendering.window)
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        c, w = _first(ds.WindowCenter), _first(ds.WindowWidth)
        shape = str(ds.get("VOILUTFunction", "LINEAR")).lower().replace("_", "-")
        out = _window(values, c, w, shape if shape in ("linear-exact", "sigmoid") else "linear")
    elif "VOILUTSequence" in ds:
        out = _stretch(np.asarray(apply_voi_lut(values, ds), dtype=np.float64))
    else:
        out = _stretch(values)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        out = 255.0 - out
    return np.rint(out).astype(np.uint8)


def frame_count(ds: Dataset) -> int:
    return int(ds.get("NumberOfFrames", 1) or 1)


def render(ds: Dataset, frame_index: int, rendering: Rendering, media_type: str) -> bytes:
    """Frame ``frame_index`` (0-based) of ``ds`` as a JPEG or PNG image."""
    if "PixelData" not in ds:
        raise RenderError("the instance has no pixel data", missing=True)
    if not 0 <= frame_index < frame_count(ds):
        raise RenderError("no such frame", missing=True)
    try:
        pixels = ds.pixel_array
    except Exception:  # no decoder for the stored syntax
        raise RenderError("the pixel data cannot be decoded here") from None
    frame = pixels[frame_index] if frame_count(ds) > 1 else pixels
    if int(ds.get("SamplesPerPixel", 1)) == 1:
        image = Image.fromarray(grey(ds, frame, rendering), mode="L")
    else:
        if frame.dtype != np.uint8:
            frame = np.rint(_stretch(frame.astype(np.float64))).astype(np.uint8)
        image = Image.fromarray(frame, mode="RGB")
    if rendering.viewport is not None:
        image.thumbnail(rendering.viewport, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if media_type == PNG:
        image.save(out, format="PNG")
    else:
        image.save(out, format="JPEG", quality=rendering.quality)
    return out.getvalue()
