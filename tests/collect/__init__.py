"""Tests of azdiag.collect; the layout mirrors azdiag/."""
