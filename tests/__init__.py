"""Tests of azdiag; the layout mirrors azdiag/."""
