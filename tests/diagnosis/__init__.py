"""Tests of azdiag.diagnosis; the layout mirrors azdiag/."""
