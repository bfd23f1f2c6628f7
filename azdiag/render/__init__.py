"""Stage 5, render: from an ``Analysis`` and its ``Diagnosis`` to the reports and tables.

Enters: ``timeline.analysis.Analysis``, ``diagnosis.engine.Diagnosis``, the templates in
``reports/``. Leaves: files (HTML, JSON, Markdown, CSV/Parquet tables) written atomically.

- ``model``: the data behind the HTML and Markdown reports, built once;
- ``html``, ``json``, ``markdown``: one module per output format;
- ``writer``: choosing the format and writing the report;
- ``cycles``: start-up cycles grouped as the report shows them;
- ``requests_view``: IIS request rate and errors and event records against the states;
- ``redact``: ``--redact``: customer identifiers taken out of every output;
- ``inventory``: what files a collection holds and how well each was understood;
- ``outputs``: atomic writes that never destroy an input;
- ``sanitise``: log text made harmless for terminals and spreadsheets.
"""
