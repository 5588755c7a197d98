"""The app's screens: main, component drill-down, trace span tree, export dialog, help."""
