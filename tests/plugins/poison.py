"""A test plugin (loaded through ``Global: plugins``): a module that kills the process it runs
in when it meets a marked record, as a segfault or the OOM killer would."""

from __future__ import annotations

import os
import signal

from gp_celery.event import DATA, Batch
from gp_celery.modules.base import Modifier, NoOptions
from gp_celery.modules.registry import register

MARKER = "POISON"


@register
class KillOnPoison(Modifier[NoOptions]):
    """Test plugin: SIGKILLs its own process on an event whose data holds 'POISON'."""

    def process(self, events: Batch) -> Batch:
        for event in events:
            if MARKER in str(event.get(DATA, "")):
                os.kill(os.getpid(), signal.SIGKILL)
        return events
