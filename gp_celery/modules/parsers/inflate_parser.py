"""InflateParser: gzip, zlib or raw deflate data in fields, inflated with a size cap."""

from __future__ import annotations

import gzip
import zlib
from typing import Final, Literal, Self

from pydantic import Field, model_validator

from gp_celery.event import MISSING, Batch, FieldPath, field_path
from gp_celery.modules.base import Example, Options, Parser
from gp_celery.modules.parsers.binary import as_bytes
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldNames

MIB: Final = 1024 * 1024
GZIP_MAGIC: Final = b"\x1f\x8b"

WBITS: Final = {
    "gzip": 16 + zlib.MAX_WBITS,
    "zlib": 32 + zlib.MAX_WBITS,
    "deflate": -zlib.MAX_WBITS,
}
"""zlib's window bits per compression: gzip header only; zlib or gzip header, detected (as
GambolPutty's zlib.decompress did); no header at all (raw deflate, HTTP's misnamed one)."""


class InflateParserOptions(Options):
    source_fields: FieldNames = ("data",)
    """Field or list of fields holding compressed bytes (default 'data')."""
    target_fields: FieldNames | None = None
    """Where each source's inflated text goes, pairwise (default None: back into the source)."""
    compression: Literal["gzip", "zlib", "deflate"] = "gzip"
    """gzip (default), zlib (zlib or gzip header, detected) or deflate (raw, no header)."""
    max_inflated_bytes: int = Field(default=16 * MIB, gt=0)
    """Most bytes one value may inflate to (default 16 MiB); beyond it, tag and leave it."""

    @model_validator(mode="after")
    def _pairs(self) -> Self:
        if self.target_fields is not None and len(self.target_fields) != len(self.source_fields):
            raise ValueError(
                f"'target_fields' has {len(self.target_fields)} fields and 'source_fields' "
                f"{len(self.source_fields)}: give one target per source, or no target_fields"
            )
        return self


class InflateError(ValueError):
    """A value that did not inflate; the message reads after the field name."""


def inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """Inflate ``data`` without ever holding more than ``limit`` + 1 inflated bytes.

    Concatenated gzip members inflate one after another, as with ``gzip.decompress``;
    NUL padding after the last member is ignored, other trailing bytes are an error.
    """
    out = bytearray()
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error as error:
            raise InflateError(f"is not valid {_kind(wbits)} data ({error})") from None
        if len(out) > limit:
            raise InflateError(f"inflates to over max_inflated_bytes={limit}")
        if not inflater.eof:
            raise InflateError(f"is truncated {_kind(wbits)} data")
        data = inflater.unused_data
        if not data.strip(b"\x00"):
            return bytes(out)
        if wbits != WBITS["gzip"] or not data.startswith(GZIP_MAGIC):
            raise InflateError(f"has {len(data)} bytes after the {_kind(wbits)} data")


def _kind(wbits: int) -> str:
    return next(name for name, bits in WBITS.items() if bits == wbits)


@register
class InflateParser(Parser[InflateParserOptions]):
    """Inflate gzip, zlib or raw deflate data in fields into text.

    Each source field is inflated into its target field (pairwise), or back into itself
    without target_fields. The result is UTF-8 text; bytes that are not UTF-8 are kept
    with ``surrogateescape`` (how inputs hand over undecodable data, so a following
    MsgPackParser gets the bytes back), counted as ``not_utf8``, not tagged. A field holds
    bytes, or text carrying undecoded bytes that way. A UdpServer that sends to it hands
    over each datagram whole (gzipped GELF, say), neither stripped nor UTF-8 checked (nor
    cut at max_datagram_bytes).

    ``compression: zlib`` detects a zlib or gzip header, as in GambolPutty; ``deflate``
    (new) takes raw deflate data without a header. Concatenated gzip members inflate as one.

    Inflating stops at ``max_inflated_bytes``: a decompression bomb is tagged after at
    most that many bytes, never inflated further. Invalid, truncated data, bytes after the
    end, or a value that is not bytes is tagged and the event goes on with the field
    as it was (GambolPutty raised and lost the event). A missing source field is skipped
    (GambolPutty raised KeyError), counted as ``missing_source``.
    """

    aliases = ("parser.Inflate",)
    reads_raw_datagrams = True
    examples = [
        Example(
            options={"source_fields": "gzip-compressed"},
            given=[{"gzip-compressed": gzip.compress(b"Spam! Spam! Spam! Lovely Spam!", mtime=0)}],
            expect=[{"gzip-compressed": "Spam! Spam! Spam! Lovely Spam!"}],
        ),
        Example(
            options={"compression": "zlib", "target_fields": "inflated"},
            given=[{"data": zlib.compress(b"Lovely Spam! Wonderful Spam!")}],
            expect=[
                {
                    "data": zlib.compress(b"Lovely Spam! Wonderful Spam!"),
                    "inflated": "Lovely Spam! Wonderful Spam!",
                }
            ],
            note="With target_fields the compressed source stays.",
        ),
    ]

    def setup(self) -> None:
        options = self.options
        sources = tuple(map(field_path, options.source_fields))
        targets = tuple(map(field_path, options.target_fields or options.source_fields))
        self._pairs: tuple[tuple[FieldPath, FieldPath], ...] = tuple(
            zip(sources, targets, strict=True)
        )
        self._wbits = WBITS[options.compression]

    def process(self, events: Batch) -> Batch:
        wbits, limit = self._wbits, self.options.max_inflated_bytes
        for event in events:
            for source, target in self._pairs:
                value = source.get(event)
                if value is MISSING:
                    self.stats.incr("missing_source")
                    continue
                try:
                    inflated = inflate(as_bytes(value, "compressed bytes"), wbits, limit)
                except ValueError as error:
                    self.fail(event, f"'{source.dotted}' {error}")
                    continue
                try:
                    text = inflated.decode("utf-8")
                except UnicodeDecodeError:
                    text = inflated.decode("utf-8", "surrogateescape")
                    self.stats.incr("not_utf8")
                target.set(event, text)
        return events
