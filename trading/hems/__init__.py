"""The home energy manager: pure cores (the plan LP)."""
