"""The data layer: the workspace database, CSV detection and loading, the SQL console guard,
profiles, exports and safe identifiers. The Data page maps onto this package."""
