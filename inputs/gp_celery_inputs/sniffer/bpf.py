"""Packet filters: tcpdump compiles the expression, the kernel runs it on the socket.

tcpdump (Debian's, libpcap inside) compiles for the link type of a capture file; it reads
a capture file's 24-byte header from standard input, so compiling needs no device and no
privileges. The program is attached to the AF_PACKET socket (SO_ATTACH_FILTER), so the
kernel drops what does not match before it is copied to us.
"""

from __future__ import annotations

import ctypes
import shutil
import socket
import struct
import subprocess
from functools import cache
from typing import Final

Instruction = tuple[int, int, int, int]
"""One classic BPF instruction: code, jump if true, jump if false, constant."""

LINKTYPE_ETHERNET: Final = 1
SNAPLEN: Final = 262144
"""What the program's accepting ``ret`` keeps of a packet: more than any frame we read."""
PCAP_HEADER: Final = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
SO_ATTACH_FILTER: Final = 26
"""From linux/asm-generic/socket.h; Python's socket module does not name it."""


@cache
def compile_filter(expression: str) -> tuple[Instruction, ...]:
    """The BPF program of a tcpdump filter expression, for Ethernet frames. Raises
    ValueError saying what is wrong (tcpdump's own message, or tcpdump missing)."""
    tcpdump = shutil.which("tcpdump") or shutil.which("tcpdump", path="/usr/sbin:/sbin")
    if tcpdump is None:
        raise ValueError("tcpdump compiles packet filters; install it (Debian: tcpdump)")
    result = subprocess.run(  # noqa: S603 - no shell; after "--" the expression is no option
        [tcpdump, "-ddd", "-r", "-", "--", expression],
        input=PCAP_HEADER,
        capture_output=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        last = message[-1].removeprefix("tcpdump: ") if message else "it failed"
        raise ValueError(f"tcpdump cannot compile it: {last}")
    count, *lines = result.stdout.decode().split("\n")
    program = tuple(_instruction(line) for line in lines if line.strip())
    if len(program) != int(count):
        raise ValueError(f"tcpdump gave {len(program)} instructions, announced {count}")
    return program


def _instruction(line: str) -> Instruction:
    code, jump_true, jump_false, constant = (int(part) for part in line.split())
    return code, jump_true, jump_false, constant


def attach_filter(sock: socket.socket, program: tuple[Instruction, ...]) -> None:
    """Make the kernel run ``program`` on every packet before the socket sees it."""
    instructions = b"".join(struct.pack("HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(instructions, len(instructions))
    # struct sock_fprog: an unsigned short count, then a pointer (the kernel copies it).
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
