"""build.py's command line: argument parsing only, one module per command group."""
