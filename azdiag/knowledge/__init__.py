"""The loaders of the knowledge that is data: ``parsers/*.toml``, ``rules/*.toml``,
``rules/workflow/*.toml`` and where ``reports/`` lives. Every stage may import them.

- ``resources``: where parsers/, rules/, reports/ are (the checkout, or ``azdiag/_data`` in a
  wheel);
- ``grammar``: the small line grammars a format's header is written in;
- ``formats``: ``load_formats`` -> ``FormatSet`` of ``LogFormat`` (log kinds, variants, signatures);
- ``workflow``: ``load_workflow`` -> ``Workflow`` (stages, beats, thresholds of the start-up);
- ``rulebook``: ``load_rules`` -> the ``Rule`` list of rules/*.toml.
"""
