"""Process exit codes, one meaning each (as httpie does), so scripts can branch on them."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    INPUT_ERROR = 1  # nothing readable in the input, or the input does not exist
    USAGE = 2  # bad command line (click's own code for usage errors)
    FINDINGS = 3  # --fail-on LEVEL was given and a finding reached LEVEL
    PARTIAL = 4  # triage: some collections could not be analysed
    INCONCLUSIVE = 5  # --fail-on LEVEL was not reached, but an instance's outcome is inconclusive
    OUTPUT_ERROR = 6  # an output could not be written (disk full, no permission); none replaced
    INTERNAL_ERROR = 70  # a bug in azdiag (EX_SOFTWARE): one line, --debug shows the traceback
    INTERRUPTED = 130  # Ctrl-C
