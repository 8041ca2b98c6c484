"""Media decoding, whatever protocol carried it: images (PNG/JPEG, base64) to pixel arrays, masks
to PNG, CSV text to rows. (The per-task request and answer formats of ``/v1`` are
``kiln.serving.v1.formats``.)

Every decoding failure becomes a ``kiln.errors`` subclass that says what was wrong and what was
expected, so a bad body is a 4xx answer and never a crash of the replica.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import math
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from kiln.errors import BadRequest, InvalidInput, PayloadTooLarge

IMAGE_TYPES = ("image/png", "image/jpeg")
IMAGE_FORMATS = ("PNG", "JPEG")  # Pillow's names of the only decoders used
# A decompression bomb is a tiny file that expands to gigabytes of pixels; refuse it early. The
# limit holds for all the images of one request together, so that a few megabytes of highly
# compressible images cannot buy more decoding than one large image.
MAX_PIXELS = 40_000_000


class PixelBudget:
    """The source pixels one request may still have decoded, taken image by image from the
    image's header, before its pixels are decoded."""

    def __init__(self, limit: int = MAX_PIXELS) -> None:
        self.limit, self.left = limit, limit

    def take(self, width: int, height: int) -> None:
        pixels = width * height
        if pixels > self.left:
            raise PayloadTooLarge(
                f"the image has {width}x{height} pixels, more than the {self.left} left of the "
                f"{self.limit} pixels a request may decode (all its images together)"
            )
        self.left -= pixels


def decode_image(
    data: bytes, height: int, width: int, channels: int, budget: PixelBudget | None = None
) -> np.ndarray:
    """A PNG or JPEG as a float32 ``(height, width, channels)`` array of 0..255 pixels.

    The image is converted to the model's colour mode and resized to the model's size, the way
    the training pipeline resized its files. Only Pillow's PNG and JPEG decoders are asked:
    the others (and their own exceptions) never see a client's bytes.
    """
    if not data:
        raise BadRequest("the image is empty: send the bytes of a PNG or JPEG file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
            (budget or PixelBudget()).take(image.width, image.height)
            image.load()
            converted: Image.Image = image.convert("L" if channels == 1 else "RGB")
            if converted.size != (width, height):
                converted = converted.resize((width, height), Image.Resampling.BILINEAR)
    except PayloadTooLarge:
        raise
    except UnidentifiedImageError as e:
        raise BadRequest(
            "the body could not be decoded as a PNG or JPEG image: it is neither"
        ) from e
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise PayloadTooLarge(f"the image is too large to decode: {e}") from e
    except MemoryError:
        raise
    except Exception as e:  # a decoder's own exceptions for a broken file: the file's fault
        raise BadRequest(f"the body could not be decoded as a PNG or JPEG image: {e}") from e
    array = np.asarray(converted, dtype=np.float32)
    return array[..., None] if channels == 1 else array


def decode_base64(text: str, what: str = "image") -> bytes:
    """Standard or URL-safe base64, with or without a ``data:...;base64,`` prefix."""
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as e:
        raise BadRequest(f"the {what} is not valid base64: {e}") from e


def encode_png(mask: np.ndarray) -> bytes:
    """A 2-D array of small class indices as an 8-bit greyscale PNG."""
    buffer = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def to_float_array(value: object, what: str) -> np.ndarray:
    """Nested JSON lists of numbers as a float32 array, refusing ragged lists and non-numbers."""
    try:
        array = np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError) as e:
        raise InvalidInput(
            f"{what} must be nested lists of numbers with a regular shape: {e}"
        ) from e
    if not np.isfinite(array).all():
        raise InvalidInput(f"{what} holds NaN or infinite values; every value must be finite")
    return array


def parse_csv(text: str) -> list[dict[str, str]]:
    """CSV text with a header row as a list of row mappings."""
    try:
        rows = list(csv.DictReader(io.StringIO(text.strip())))
    except csv.Error as e:  # e.g. a field over the csv module's limit, or a NUL byte
        raise BadRequest(
            f"the CSV text cannot be parsed: {e}; send a header line, then rows of plain "
            f"fields (at most {csv.field_size_limit()} characters each)"
        ) from e
    if not rows:
        raise BadRequest("the CSV body holds no rows: send a header line and then the rows")
    return rows


def to_number(value: object, column: str, row: int) -> float:
    if isinstance(value, bool):
        raise InvalidInput(f"row {row}, column {column!r}: expected a number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"row {row}, column {column!r}: expected a number, got {value!r}") from e
    if not math.isfinite(number):
        raise InvalidInput(f"row {row}, column {column!r}: the value must be finite, got {value!r}")
    return number
