"""Builds the CCG co-commissioning atlas from the raw sources (see ``python -m geodata --help``)."""
