"""`gp-celery dlq`: look at, replay and purge what was set aside.

Dead letters (events a sink gave up on, records that killed workers) and parked chunks
(made for a config no worker runs) are kept by ``gp_celery.broker.letters`` in a Redis
list (a fleet) or a JSON-lines file (embedded mode). ``select`` picks records by id, node,
kind and age; ``replay`` runs them through the current config from the node that set them
aside; ``command`` does each action and ``parser`` reads the command line.
"""

from __future__ import annotations
