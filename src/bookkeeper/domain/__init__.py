"""The domain core: proposals, review rules, confidence and patterns. Pure Python, no I/O."""
