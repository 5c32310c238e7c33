"""An input's framing as the whole config means it (adjustments the input cannot see)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from gp_celery.framing import Framing

if TYPE_CHECKING:
    from gp_celery.config import NodeSpec, PipelineConfig


def feeds_msgpack_stream(config: PipelineConfig, spec: NodeSpec) -> bool:
    """Does this input send to a MsgPackParser in stream mode (GambolPutty's shape for
    python-beaver's msgpack over TCP)?"""
    for receiver in spec.receivers or []:
        target = config.node(receiver.target)
        options = target.options
        if target.type_name == "MsgPackParser" and getattr(options, "mode", "") == "stream":
            return True
    return False


def feeds_binary_parser(config: PipelineConfig, spec: NodeSpec) -> bool:
    """Does this input send to a parser of binary packets (``reads_raw_datagrams``)?"""
    for receiver in spec.receivers or []:
        module = config.node(receiver.target).module
        if module is not None and getattr(module, "reads_raw_datagrams", False):
            return True
    return False


def framing_of(config: PipelineConfig, spec: NodeSpec, framing: Framing) -> Framing:
    """A raw stream that feeds a MsgPackParser in stream mode is cut at msgpack object
    boundaries, so every event holds whole objects wherever it is decoded: a fleet never
    splits an object between two worker processes, and the parser needs no state per
    connection. Datagrams that feed a parser of binary data are decoded as stream reads
    are: each one whole, unstripped, undecodable bytes kept with ``surrogateescape``
    (stripping and replacing invalid UTF-8 would corrupt packets, and so would cutting
    them at max_datagram_bytes; UDP keeps them under 64 KiB). Every other framing is the
    input's own."""
    if framing.kind == "stream" and feeds_msgpack_stream(config, spec):
        return replace(framing, kind="msgpack")
    if framing.kind == "datagram" and feeds_binary_parser(config, spec):
        return replace(framing, kind="stream")
    return framing
