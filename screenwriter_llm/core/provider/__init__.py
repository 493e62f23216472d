"""The model provider: one LiteLLM call, errors, retries, the network gate, keys. Pure Python: never imports bpy."""
