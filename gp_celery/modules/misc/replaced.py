"""What the original's cluster and web modules became: accepted, standing alone, and saying
once in the log what replaces them here."""

from __future__ import annotations

from typing import ClassVar

from gp_celery.modules.base import Misc, OptionsT


class Replaced(Misc[OptionsT]):
    """A module of the original that gp-celery replaces with something of its own."""

    stands_alone = True
    instead: ClassVar[str] = ""
    """One sentence: what to use here instead."""

    def setup(self) -> None:
        self.log.info("%s: replaced in gp-celery and does nothing: %s", self.label, self.instead)
