"""Wiring: the one Definitions object, the job and the command-line interface."""
