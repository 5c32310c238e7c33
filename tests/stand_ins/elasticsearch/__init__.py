"""A STAND-IN for Elasticsearch, for tests and benchmarks. It is not Elasticsearch.

No Elasticsearch server installs on the machines this project tests on, so the tests of
ElasticSearchSink talk to this small HTTP server instead. It follows
``shared/spec/ELASTICSEARCH-WIRE.md``: the ``X-Elastic-Product`` header on every response,
the compatibility media types (``compatible-with`` N and N-1 only, on both Accept and
Content-Type), ``GET /`` and ``HEAD /``, PUT and POST ``/_bulk`` and ``/{index}/_bulk`` with
one result per action in order, and the index admin calls sinks make. The official client's
``info()``, ``ping()`` and bulk helpers accept it (tests/stand_ins/test_elasticsearch.py).

Documents are kept in memory and are searchable at once. What it copies from a real server,
so that a sink meets real answers: ``create`` of an existing id is 409, ``update`` of a
missing document is 404, invalid index names and metadata fields inside a document are 400
items, an object where a concrete value was indexed before (or the reverse) is a 400
``document_parsing_exception``, an id over 512 bytes fails the whole request, a body without
its final newline is a 400. Queries are not evaluated: ``_search`` knows ``match_all`` and
``ids`` only, ``_count`` counts everything; points in time (``POST /<index>/_pit``,
``DELETE /_pit``) and ``sort`` + ``search_after`` paging work as in Elasticsearch 8
(``pit.py``); there are no shards, replicas or mappings
beyond objects versus values.

Faults on demand, through ``/_stand_in/`` (never part of a real server):

- ``POST /_stand_in/faults`` with ``{"items": [429, 500, 400], "ids": {"doc-1": 400},
  "requests": [503, "reset", "malformed", {"delay": 2}, {"stall_after_store": 5}]}``:
  ``items`` are statuses for the next bulk items, in order (0: no fault); ``ids`` fail
  every action on that id with the status until cleared; ``requests`` apply to the next
  bulk requests: a status answers the whole request with it, ``reset`` stores the first
  half of the items and resets the connection without an answer, ``malformed`` stores the
  items and answers 200 with broken JSON, ``delay`` sleeps before the request is handled,
  ``stall_after_store`` stores the items and then waits before answering.
- ``DELETE /_stand_in/faults`` clears them; ``POST /_stand_in/reset`` clears everything.
- ``GET /_stand_in/stats``: bulk requests and items seen, documents, stalls in progress,
  the path and headers of the last request.

Run it: ``python -m tests.stand_ins.elasticsearch --port 9200 [--version 8.18.0]
[--user elastic:secret] [--api-key ID:KEY] [--certfile cert.pem --keyfile key.pem]``.
It prints ``listening on PORT`` when it is ready.
"""
