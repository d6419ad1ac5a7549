"""Connexion handlers: one module per contract tag, plain functions of the operation's parameters."""
