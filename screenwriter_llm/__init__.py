"""Screenwriter LLM: a language-model screenwriting assistant in Blender's Text Editor sidebar.

Loads as a Blender extension (``blender_manifest.toml``; module ``bl_ext.<repo>.screenwriter_llm``)
and, through ``bl_info``, as a legacy add-on in Blender 3.4-4.1. Registration imports only the thin
bpy layer; LiteLLM is imported later, in a worker thread (see ``core/llm.py``).
"""

bl_info = {
    "name": "Screenwriter LLM",
    "author": "Screenwriter LLM developers",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "Text Editor > Sidebar > Screenwriter",
    "description": "Stream a language model's scene analysis of a Fountain screenplay into a Text",
    "category": "Text Editor",
    "doc_url": "https://github.com/screenwriter-llm/screenwriter-llm",
}


def __getattr__(name: str) -> object:
    """``screenwriter_llm.api``: the scripting API (see ``api.py``), imported on first use."""
    if name == "api":
        import importlib

        return importlib.import_module(f"{__name__}.api")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register() -> None:
    """Register the bpy layer's modules in order (properties first, then operators, then UI)."""
    from . import addon

    addon.register()


def unregister() -> None:
    """Cancel running jobs, then unregister everything :func:`register` added, in reverse order."""
    from . import addon

    addon.unregister()
