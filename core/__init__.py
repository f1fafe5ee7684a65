"""Marketing Workbench core: all logic, no UI. Usable from a notebook or a script."""
