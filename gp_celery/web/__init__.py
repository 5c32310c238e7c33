"""`gp-celery web`: the pipeline drawn as a graph, with the fleet's live numbers, queue
depths, processes and the config digest each runs, and the dead letters, which can be
replayed from the page. Served by Tornado (already a dependency, through Flower); the page
is plain HTML, CSS and JavaScript shipped in the package: no build chain."""
