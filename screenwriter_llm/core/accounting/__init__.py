"""Accounting: the SQLite store, usage ledger, response cache, cost, budgets. Pure Python: never imports bpy."""
