"""The contract, shipped as package data of the installed `authsvc` (read via importlib.resources)."""
