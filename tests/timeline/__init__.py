"""Tests of azdiag.timeline; the layout mirrors azdiag/."""
