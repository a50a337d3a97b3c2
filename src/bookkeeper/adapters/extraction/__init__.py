"""Document extractors: Claude (the LLM path) and the offline rules (the default)."""
