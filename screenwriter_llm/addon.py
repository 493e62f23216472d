"""Joins the bpy layer: registers its modules in order and unregisters them in reverse."""

from __future__ import annotations

from . import credentials, endpoints, operators, props, pump, ui

_MODULES = (props, operators, ui, pump)


def register() -> None:
    """Register every bpy module of the add-on: properties, operators, UI, then the pump's handlers."""
    for module in _MODULES:
        module.register()


def unregister() -> None:
    """Unregister in reverse order; the pump goes first, cancelling and joining running jobs."""
    for module in reversed(_MODULES):
        module.unregister()
    credentials.forget()
    endpoints.reset()
