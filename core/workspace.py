"""Stable import path for the workspace (callers outside the project use `core.workspace`).

The implementation lives in `core.data.workspace`.
"""

from core.data.workspace import TableInfo, Workspace, close_all, restore_backup

__all__ = ["TableInfo", "Workspace", "close_all", "restore_backup"]
