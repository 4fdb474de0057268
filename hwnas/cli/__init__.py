"""Command-line interface: parses options, calls the library, renders results (rich or JSON)."""
