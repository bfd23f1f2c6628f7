"""Tests of azdiag.triage; the layout mirrors azdiag/."""
