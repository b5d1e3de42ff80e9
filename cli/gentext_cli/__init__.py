"""The ``gentext`` command line: parses arguments, calls the library, prints. No model code."""
