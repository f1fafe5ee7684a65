"""What the Targeting page's tabs share: widget values that survive leaving the page, a table's columns
and role guesses (cached by table version), and one way to run a tab's heavy work as a background job
(submit on the click, progress while it runs, the result from memory afterwards)."""

from __future__ import annotations

import json
from functools import partial
from typing import Any, Callable

import pandas as pd
import streamlit as st

from core.columns import ColumnRoles, guess_roles
from core.targeting.guess import Tab, first_fitting
from core.data.workspace import Workspace
from core.errors import DataError
from pages.common import job_runner, remember, result_store, stored
from pages.jobs_panel import job_result

NONE = "(none)"


def kept(key: str, default: Any) -> Any:
    """A widget's last value in this session (Streamlit forgets widget values when the page is left)."""
    return st.session_state.get(f"keep:{key}", default)


def keep(key: str, value: Any) -> Any:
    st.session_state[f"keep:{key}"] = value
    return value


def pick(label: str, options: list, key: str, default: Any, container: Any = st, **kw: Any) -> Any:
    """A selectbox whose value is kept across page visits (default: the guess). With no guess (default
    None, or not among the options) nothing is preselected: the user picks, rather than getting the
    first column as if it had been guessed."""
    if not options:
        return None
    value = kept(key, None)
    if value not in options:  # nothing kept (or a value no longer offered, or None): the guess
        value = default
    index = options.index(value) if value in options else None
    return keep(key, container.selectbox(label, options, index=index, key=key,
                                         placeholder=kw.pop("placeholder", "Pick one"), **kw))


def optional(value: str) -> str | None:
    return None if value in (None, NONE) else value


class TableColumns:
    """A table's column names, types and role guesses (one schema read and one guess per table version;
    the schema, not the column profile: profiling Online Retail's 540,000 rows to learn its types cost
    seconds on each pick of the table under load)."""

    def __init__(self, ws: Workspace, table: str) -> None:
        self.table = table
        self.version = ws.info(table).version
        db = str(ws.path)
        schema = stored(("schema", db, table, self.version), lambda: dict(ws.table(table).schema().items()))
        self.columns: list[str] = list(schema)
        self._numeric = [c for c, t in schema.items() if t.is_numeric() and not t.is_boolean()]
        self._temporal = [c for c, t in schema.items() if t.is_date() or t.is_timestamp()]
        self.roles: ColumnRoles = stored(("roles", db, table, self.version), lambda: guess_roles(ws.table(table)))

    @property
    def numeric(self) -> list[str]:
        return list(self._numeric)

    @property
    def dates(self) -> list[str]:
        out = list(self._temporal)
        guessed = self.roles.date.column
        if guessed in self.columns and guessed not in out:  # dates kept as text
            out.append(str(guessed))
        return out

    @property
    def labels(self) -> list[str]:
        return [c for c in self.columns if c not in self.numeric and c not in self.dates]


def describe(ws: Workspace) -> Callable[[str], tuple[ColumnRoles, list[str]]]:
    """name -> (role guesses, columns) for core.targeting.guess, cached by table version."""
    db = str(ws.path)

    def one(name: str) -> tuple[ColumnRoles, list[str]]:
        version = ws.info(name).version
        roles = stored(("roles", db, name, version), lambda: guess_roles(ws.table(name)))
        return roles, stored(("columns", db, name, version), lambda: list(ws.columns(name)))
    return one


def pick_table(ws: Workspace, label: str, key: str, tab: Tab, preferred: str, tables: list[str],
               container: Any = st) -> str | None:
    """The tab's input table: kept from the last visit, else the demo's table, else the first table
    whose columns fit the tab (core.targeting.guess.first_fitting), else none preselected."""
    default = kept(key, None)
    if default not in tables:
        default = first_fitting(tab, tables, describe(ws), preferred=preferred)
    table = pick(label, tables, key, default, container, placeholder="Pick a table")
    if table is None:
        container.caption("No table here looks like it fits: pick the one to use.")
    return table


def table_columns(ws: Workspace) -> dict[str, list[str]]:
    """Every table's column names, in the workspace's order (for telling result tables apart)."""
    db = str(ws.path)
    out: dict[str, list[str]] = {}
    for name in ws.tables():
        out[name] = stored(("columns", db, name, ws.info(name).version), partial(_columns, ws, name))
    return out


def _columns(ws: Workspace, name: str) -> list[str]:
    return list(ws.columns(name))


def run_job(ws: Workspace, *, kind: str, func: Callable[..., Any], make_input: Callable[[], pd.DataFrame],
            table: str, version: int, ran: dict, clicked: bool, button: str, label: str, cancel_key: str,
            expected: type) -> Any:
    """The result of `func(make_input(), ran)` as a background job: from memory, from the user's finished
    job with these settings, or a new job (its progress meanwhile; None until it is done)."""
    key = (kind, str(ws.path), table, version, json.dumps(ran, sort_keys=True, default=str))
    if key in result_store():
        return result_store()[key]
    settings = {"table_version": version, **ran}

    def submit() -> None:
        ws.require("train")
        job_runner().submit(kind, func, make_input(), ran, owner=ws.user, table=table, settings=settings)

    outcome = job_result(user=ws.user, kind=kind, table=table, settings=settings, clicked=clicked, submit=submit,
                         label=label, cancel_key=cancel_key, button=button, expected=expected)
    return None if outcome is None else remember(key, outcome[0])


def save_table(ws: Workspace, frame: pd.DataFrame, default_name: str, key: str, source: str,
               button: str = "Save as a table") -> None:
    """A name field and a save button that writes `frame` to the workspace (analysts and admins)."""
    if not ws.role or ws.role == "viewer":
        return
    c1, c2 = st.columns([3, 1])
    name = c1.text_input("Table name", value=default_name, key=f"{key}-name-{default_name}")
    if c2.button(button, key=f"{key}-save", icon=":material/save:"):
        try:
            saved = ws.save_frame(frame, name, mode="replace", source=source)
            st.success(f"Saved `{saved}` ({len(frame):,} rows).")
        except DataError as e:
            st.error(str(e))
