"""Tests of azdiag.common; the layout mirrors azdiag/."""
