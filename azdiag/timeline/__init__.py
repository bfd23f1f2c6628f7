"""Stage 3, timeline: from the events table to the story of every instance.

Enters: ``Ingested`` (parse.ingest) and the ``Workflow`` (knowledge.workflow). Leaves:
``analysis.Analysis`` (what ``azdiag.analyze`` returns) holding ``build.Timeline``'s polars frames:

- ``events``: parse's columns plus ``event``, ``stage``, ``component``, ``sig``, ``cycle``;
- ``cycles``: instance, cycle, start, end, observed_start, opened_by, last_stage,
  last_stage_order, stages, ready_at, failure_event, failure_at, last_progress, outcome,
  events, seconds;
- ``stage_times``: instance, cycle, stage, order, entered, left, seconds;
- ``states``: instance, state, detail, start, end, seconds, reports, open;
- ``gaps``: instance, kind, beat, start, end, seconds, open, planned, planned_by,
  beyond_restart_threshold, cycle, stage;
- ``details``: the signature fields per distinct record shape (``sig``).

Times are UTC, durations in seconds. Modules: ``analysis`` (``analyze``, ``Analysis``), ``build``
(``build_timeline``), ``clock`` (clocks that lie), ``cycles``, ``gaps``, ``states``, ``view``
(the filtered tables of ``azdiag timeline``).
"""
