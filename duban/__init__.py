"""The composition root: the `duban` command line and the running service wire everything."""
