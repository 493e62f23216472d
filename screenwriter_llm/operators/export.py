"""Export Usage as CSV."""

from __future__ import annotations

from bpy.props import StringProperty
from bpy.types import Context, Operator
from bpy_extras.io_utils import ExportHelper

from .. import settings
from ..core.accounting.usage import LedgerError, UsageLedger
from .base import Result, tip_


class SCREENWRITER_OT_export_usage(Operator, ExportHelper):  # type: ignore[misc]
    """Export the usage ledger (one row per request: time, model, operator, script, tokens, cost, time to first
    token, duration, outcome) as a CSV file"""

    bl_idname = "screenwriter.export_usage"
    bl_label = "Export Usage as CSV"
    bl_options = {"REGISTER"}

    filename_ext = ".csv"
    filter_glob: StringProperty(default="*.csv", options={"HIDDEN"})  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[Result]:
        path = settings.data_dir() / settings.LEDGER_FILE
        try:
            rows = UsageLedger(path).export_csv(self.filepath)  # type: ignore[attr-defined]
        except (LedgerError, OSError) as exc:
            self.report({"ERROR"}, tip_("Could not export the usage: {}").format(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, tip_("{} requests written to {}").format(rows, self.filepath))  # type: ignore[attr-defined]
        return {"FINISHED"}


classes = (SCREENWRITER_OT_export_usage,)
