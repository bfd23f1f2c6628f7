"""Stage 2, parse: from log sources to one events table.

Enters: a ``Collection`` and a ``FormatSet`` (knowledge.formats). Leaves: ``ingest.Ingested``:
``events`` (polars; ``time`` UTC, ``instance``, ``kind``, ``file``, ``line``, ``lines``,
``level``, ``level_raw``, ``pid``, ``tid``, ``source``, ``message``, ``parsed``,
``time_filled``, ``truncated``), ``files`` (``FileReport`` per file: format, lines, what failed),
``window`` (first and last time), ``tz``, warnings.

- ``ingest``: the stage's entry (``ingest(path)``): reading every source, in parallel;
- ``engine``: lines -> records with a format's grammars (``RECORD_SCHEMA``, ``parse_batch``);
- ``pieces``: large files parsed in line-aligned pieces;
- ``signatures``: matching records to the signatures of the formats (event, stage, fields);
- ``samples``: checking a format's sample lines (``azdiag formats test``).
"""
