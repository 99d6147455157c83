"""Time-value network pricing: the pure cores (power flow, price formula)."""
