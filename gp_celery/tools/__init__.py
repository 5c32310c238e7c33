"""Operator tools over a config: ``graph`` (draw it), ``test`` (pipeline unit tests) and
``check --samples`` (sample lines through the parsers). Each command lives in its own
module; ``cli.py`` only declares it."""
