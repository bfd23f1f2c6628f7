"""Stage 1, collect: from a path (folder, zip, tar, .evtx, single log) to the log sources in it.

Enters: a path. Leaves: a ``Collection`` (``discover.discover``): ``sources`` (``LogSource``:
display path, name, format_id, instance, role, ...), ``skipped`` (item, reason), ``warnings``,
``instances``; ``CollectError`` when the input cannot be used. Nothing here parses a line.

- ``discover``: walking the input, telling guest logs from the rest, the ``Collection``;
- ``archive``: safe, read-only access to folders, zips (nested too) and gzip files;
- ``decode``: bytes to text (BOMs, UTF-16, legacy code pages), binary sniffing;
- ``generations``: generation numbers of rotated logs (``.old``, ``.N``, timestamped);
- ``instances``: which role instance a file belongs to;
- ``several``: which top-level entries of an input hold a collection each (side by side, or
  beside the input's own folders);
- ``readers``: a source's lines (text logs, Windows event logs, IIS logs) and their coverage;
- ``eventlog``, ``iislog``: reading .evtx/.xml/.csv event logs and W3C IIS logs;
- ``collection_time``: when the logs were taken ("now"), and what says so;
- ``zip_times``: a zip member's time in UTC from its extra fields (its DOS time has no zone).
"""
