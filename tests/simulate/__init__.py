"""Tests of azdiag.simulate; the layout mirrors azdiag/."""
