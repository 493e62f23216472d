"""Pure-Python core of Screenwriter LLM: no module in this package imports ``bpy``."""
