"""An example Fonoteca plugin (see plugin.py)."""
