"""Who may do what: three roles, each allowed everything the one before it may do, plus more.

- viewer: reads tables, results, charts and reports, and downloads them;
- analyst: also loads data, builds segments, trains and scores models, analyses tests, uses SQL;
- admin: also deletes tables and models, reads the audit log, backs up and restores.

The rules live here, in core, so that a refused action raises the same DataError whether it came
from a page, a notebook or a test; pages only hide what the role cannot use.
"""

from __future__ import annotations

from typing import Literal, get_args

from core.errors import DataError

Role = Literal["viewer", "analyst", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)

Action = Literal[
    "read", "download",
    "load", "save", "segment", "train", "score", "analyze", "sql", "save_model",
    "drop", "delete_model", "audit", "backup", "restore", "manage_users",
]

# The lowest role that may perform each action.
REQUIRED_ROLE: dict[str, Role] = {
    "read": "viewer", "download": "viewer",
    "load": "analyst", "save": "analyst", "segment": "analyst", "train": "analyst",
    "score": "analyst", "analyze": "analyst", "sql": "analyst", "save_model": "analyst",
    "drop": "admin", "delete_model": "admin", "audit": "admin", "backup": "admin",
    "restore": "admin", "manage_users": "admin",
}

_WHAT = {
    "read": "read tables", "download": "download results", "load": "load data",
    "save": "save tables", "segment": "build segments", "train": "train models",
    "score": "score customers", "analyze": "analyse tests", "sql": "use the SQL console",
    "save_model": "save models", "drop": "delete tables", "delete_model": "delete models",
    "audit": "read the audit log", "backup": "back up the workspace",
    "restore": "restore a backup", "manage_users": "manage users",
}


def check_role(role: str) -> Role:
    """The role itself, or DataError naming the valid ones."""
    if role not in ROLES:
        raise DataError(f"Unknown role '{role}'. Use one of: {', '.join(ROLES)}.")
    return role  # type: ignore[return-value]


def allowed(role: str, action: str) -> bool:
    """Whether `role` may perform `action`."""
    needed = REQUIRED_ROLE.get(action)
    if needed is None:
        raise ValueError(f"Unknown action {action!r}")
    return ROLES.index(check_role(role)) >= ROLES.index(needed)


def require(role: str, action: str) -> None:
    """Raise DataError, naming the role it needs, unless `role` may perform `action`."""
    if not allowed(role, action):
        needed = REQUIRED_ROLE[action]
        raise DataError(
            f"Your role ({role}) cannot {_WHAT[action]}: that needs the {needed} role"
            f"{' or higher' if needed != 'admin' else ''}. Ask an admin of this workbench for access."
        )
