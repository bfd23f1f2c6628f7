"""Process exit codes, one meaning each (as httpie does), so scripts can branch on them."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    INPUT_ERROR = 1  # nothing readable in the input, or the input does not exist
    USAGE = 2  # bad command line (click's own code for usage errors)
    FINDINGS = 3  # --fail-on LEVEL was given and a finding reached LEVEL
    PARTIAL = 4  # triage: some collections could not be analysed
    OUTPUT_ERROR = 5  # an output could not be written (disk full, no permission); none replaced
    INTERRUPTED = 130  # Ctrl-C
