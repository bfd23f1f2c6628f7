"""On top of the pipeline: many collections at once, one summary.

Enters: paths. Leaves: one report per collection (render) and an index (HTML/JSON/CSV) of their
verdicts. ``batch`` runs one collection through every stage (``triage_one``), ``run`` runs many
on a process pool or a Dask cluster, ``index`` writes summary.csv, summary.jsonl and index.html.
"""
