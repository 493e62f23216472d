"""Tasks: prompt templates, rendering, context planning, chat. Pure Python: never imports bpy."""
