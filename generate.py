#!/usr/bin/env python3
"""Command line of the template generator (build, list, lint, package); see templates_src/cli.py.

Installed as ``sm-mlops-templates``; ``python generate.py ...`` runs the same command from a checkout.
"""

from templates_src.cli import main

if __name__ == "__main__":
    main()
