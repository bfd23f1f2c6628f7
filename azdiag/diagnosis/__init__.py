"""Stage 4, diagnosis: from an ``Analysis`` to findings and a verdict per instance.

Enters: ``timeline.analysis.Analysis`` and the rule book (knowledge.rulebook). Leaves:
``engine.Diagnosis`` (what ``azdiag.diagnose`` returns): ``rules``, ``findings`` (``Finding``:
rule, instance, cycle, time, evidence lines), ``verdicts`` (``Verdict`` per instance: outcome
healthy/degraded/failing/inconclusive, root cause, stage, completeness, frontier) and ``overall``.

- ``engine``: ``diagnose`` and the facts the rules are judged on;
- ``conditions``: the conditions a rule is written with;
- ``findings``: rules applied to the facts;
- ``verdict``: the outcome and root cause of an instance;
- ``completeness``: which logs an instance needs and which are missing;
- ``frontier``: where failed or hung start-ups stop, and the telling lines there;
- ``unrecognised``: error records no signature explains, grouped into templates;
- ``rule_examples``: each rule's positive and negative examples run (``azdiag rules test``).
"""
