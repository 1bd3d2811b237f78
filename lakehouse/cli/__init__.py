"""The `lakehouse` command line: the one front door. It parses, calls and prints; the work is done below."""
