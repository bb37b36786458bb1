"""Outputs: recommendation and similar-movie tables, title matching, reports, atomic publishing
and content-addressed step folders."""
