"""Jobs: the worker thread and its handle, events, whole-script batch runs. Pure Python: never imports bpy."""
