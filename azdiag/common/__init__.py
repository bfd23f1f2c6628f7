"""Small helpers every stage may use; they import nothing else of azdiag.

- ``times``: zones, user-given times, ISO text;
- ``frames``: keeping the events table's columns cut into the same chunks.
"""
