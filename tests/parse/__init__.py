"""Tests of azdiag.parse; the layout mirrors azdiag/."""
