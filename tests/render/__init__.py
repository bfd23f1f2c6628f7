"""Tests of azdiag.render; the layout mirrors azdiag/."""
