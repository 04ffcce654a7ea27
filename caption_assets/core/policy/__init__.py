"""Pure decisions: what a tier admits (admission), run priority and aging (priority), and the checks'
thresholds on layouts and captions (quality)."""
