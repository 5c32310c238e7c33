"""Fleet counters: every listener and worker process keeps its running totals in Redis
(one pipelined write every few seconds), and ``gp-celery stats`` adds them up.

Each process writes the whole of its totals under a key of its own (role, host, pid and
start time), never increments: a flush that is lost or repeated changes nothing, a process
that died is still counted with its last totals, and a restarted one starts a new key, so
nothing is counted twice.
"""
