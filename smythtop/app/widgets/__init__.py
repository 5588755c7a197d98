"""The app's widgets: panes, diffing tables, charts and the status line."""
