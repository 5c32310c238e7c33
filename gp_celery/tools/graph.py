"""`gp-celery graph`: the pipeline drawn with Graphviz.

The DOT text is written here (no Python binding: the `graphviz` package would only shell out
to `dot` too). Every node gets a generated DOT id (``n0``, ``n1`` ...) and everything a user
wrote (ids, module names, filters) goes into quoted labels, escaped, so no config can break
the graph's syntax or inject markup into the SVG (`dot` escapes label text for XML itself).

What is drawn: one box per node, its shape and colour by family (dashed when the module is
not built yet), its input filter under its name; an arrow per receiver, labelled with its
output filter; one cluster per stage (the nodes a worker of that queue runs). Inputs run in
listeners and are drawn outside the stages; a node several stages send to (so it runs in
each of them) is drawn outside too, its stages named in its label.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Final

from gp_celery.config import ConfigError, NodeSpec, PipelineConfig, load_config

FORMATS: Final = ("svg", "png", "dot", "pdf")
EXTENSIONS: Final = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot", ".pdf": "pdf"}
DOT_SECS: Final = 60.0
"""A graph of a few hundred nodes takes `dot` well under a second."""

STYLES: Final = {
    "input": ('shape=invhouse style="filled"', "#cfe8fc"),
    "parser": ('shape=box style="filled,rounded"', "#fff2c2"),
    "modifier": ('shape=box style="filled"', "#dff5dc"),
    "misc": ('shape=ellipse style="filled"', "#ececec"),
    "sink": ('shape=cylinder style="filled"', "#f9d9d6"),
}
"""Family -> (shape and style, fill colour); other families (cluster, webserver: modules
not built yet) are drawn as misc."""

EXIT_OK, EXIT_CONFIG, EXIT_RUNTIME = 0, 1, 2


class DotMissingError(RuntimeError):
    """Graphviz's `dot` is not installed: only DOT text can be written."""


def quote(text: str) -> str:
    """A DOT quoted string (an escString label) showing ``text`` as written.

    Backslashes are doubled (in labels ``\\n``, ``\\l``, ``\\N`` ... are escapes), quotes
    escaped, ``&`` written as an entity (dot decodes entities in labels) and line breaks
    become centred line breaks; other control characters, which `dot` rejects or mangles,
    are shown as ``\\xNN``."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "&":  # dot reads HTML entities (&amp; &#60;) in any label
            out.append("&amp;")
        elif char == "\n":
            out.append("\\n")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _node_label(node: NodeSpec, config: PipelineConfig) -> str:
    lines = [node.id]
    if node.type_name != node.id:
        lines.append(node.type_name)
    if node.module is None:
        lines.append("(not built yet)")
    if node.filter is not None:
        source = node.filter.source.strip()
        lines.append(_short(source if source.startswith("if ") else f"if {source}"))
    stages = config.stages.get(node.id, ())
    if len(stages) > 1:
        lines.append(f"stages: {', '.join(stages)}")
    return "\n".join(lines)


def _node_line(dot_id: str, node: NodeSpec, config: PipelineConfig) -> str:
    shape, fill = STYLES.get(node.family, STYLES["misc"])
    if node.module is None:
        shape = shape.replace('style="filled', 'style="dashed,filled')
    label = quote(_node_label(node, config))
    return f'{dot_id} [label={label} {shape} fillcolor="{fill}" tooltip={quote(node.type_name)}];'


def _cluster_of(node: NodeSpec, config: PipelineConfig) -> str | None:
    stages = config.stages.get(node.id, ())
    if node.family == "input" or len(stages) != 1:
        return None
    return stages[0]


def to_dot(config: PipelineConfig) -> str:
    """The config's graph as DOT text."""
    ids = {node.id: f"n{index}" for index, node in enumerate(config.nodes)}
    title = f"{Path(config.file).name} (digest {config.digest[:12]})"
    lines = [
        "digraph pipeline {",
        f"  label={quote(title)}; labelloc=t; rankdir=LR; fontname=Helvetica;",
        "  node [fontname=Helvetica fontsize=11];",
        "  edge [fontname=Helvetica fontsize=9];",
    ]
    clusters: dict[str, list[NodeSpec]] = {}
    for node in config.nodes:
        queue = _cluster_of(node, config)
        if queue is None:
            lines.append(f"  {_node_line(ids[node.id], node, config)}")
        else:
            clusters.setdefault(queue, []).append(node)
    for number, (queue, members) in enumerate(sorted(clusters.items())):
        digest = config.digests.get(queue, "")[:12]
        lines.append(f"  subgraph cluster_{number} {{")
        lines.append(f"    label={quote(f'stage {queue} (digest {digest})')};")
        lines.append('    style="rounded,dashed"; color="#7a7a7a";')
        lines += [f"    {_node_line(ids[node.id], node, config)}" for node in members]
        lines.append("  }")
    for node in config.nodes:
        for receiver in node.receivers or []:
            target = ids.get(receiver.target)
            if target is None:
                continue
            label = f" [label={quote(_short(receiver.filter.source))}]" if receiver.filter else ""
            lines.append(f"  {ids[node.id]} -> {target}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_text: str, fmt: str, which: Callable[[str], str | None] = shutil.which) -> bytes:
    """Run Graphviz's `dot` over the text; DotMissingError when it is not installed."""
    if fmt == "dot":
        return dot_text.encode("utf-8")
    program = which("dot")
    if program is None:
        raise DotMissingError(
            f"Graphviz's `dot` is not installed, so no {fmt} can be drawn (Debian: apt-get "
            "install graphviz); `-o FILE.dot` or `--format dot` writes the graph as DOT text "
            "without it"
        )
    done = subprocess.run(  # noqa: S603 - a fixed program and arguments, the text on stdin
        [program, f"-T{fmt}"],
        input=dot_text.encode("utf-8"),
        capture_output=True,
        timeout=DOT_SECS,
        check=False,
    )
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
        raise RuntimeError(f"Graphviz's dot failed: {reason}")
    return done.stdout


def output_format(output: str | None, given: str | None) -> str:
    """--format, else the output file's extension, else DOT (text on stdout)."""
    if given:
        return given
    if output and output != "-":
        suffix = Path(output).suffix.lower()
        if suffix not in EXTENSIONS:
            known = ", ".join(sorted(EXTENSIONS))
            raise ValueError(f"cannot tell the format of {output!r} ({known}); pass --format")
        return EXTENSIONS[suffix]
    return "dot"


def cmd_graph(args: argparse.Namespace, config_path: Callable[[argparse.Namespace], str]) -> int:
    try:
        config = load_config(config_path(args))
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    try:
        fmt = output_format(args.output, args.format)
        drawn = render(to_dot(config), fmt)
    except ValueError as error:
        print(f"gp-celery graph: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except (DotMissingError, RuntimeError, OSError, subprocess.TimeoutExpired) as error:
        print(f"gp-celery graph: {error}", file=sys.stderr)
        return EXIT_RUNTIME
    if args.output in (None, "-"):
        sys.stdout.buffer.write(drawn)
        return EXIT_OK
    try:
        Path(args.output).write_bytes(drawn)
    except OSError as error:
        print(f"gp-celery graph: cannot write {args.output}: {error}", file=sys.stderr)
        return EXIT_RUNTIME
    return EXIT_OK


def add_graph_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    with_config: Callable[[argparse.ArgumentParser], None],
    config_path: Callable[[argparse.Namespace], str],
) -> None:
    """``gp-celery graph``, under the main parser's subcommands."""
    graph = commands.add_parser(
        "graph",
        help="draw the pipeline (svg, png, pdf or dot) with Graphviz",
        description="Draw the config's nodes (shape and colour by family, dashed when not "
        "built yet), receivers with their output filters, and its stages (one cluster per "
        "queue). svg, png and pdf need Graphviz's `dot` (Debian: graphviz); dot text does not.",
        epilog="exit status: 0 drawn; 1 configuration problem or unknown format; 2 `dot` is "
        "missing or failed, or the output cannot be written.",
    )
    with_config(graph)
    graph.add_argument(
        "-o", "--output", help="output file; its extension picks the format (default: stdout)"
    )
    graph.add_argument("--format", choices=FORMATS, help="output format (default: from -o)")
    graph.set_defaults(handler=partial(cmd_graph, config_path=config_path))
