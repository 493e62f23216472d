"""Screenplays: parsing Fountain, scenes, pages. Pure Python: never imports bpy."""
