"""CLI command groups: one module per group, each with ``register(subparsers)``.

A module registers its parsers and sets ``func`` (callable taking the parsed args and
returning an exit code). ``safemed_desktop.cli`` discovers the modules in this package.
"""
