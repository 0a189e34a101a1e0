"""migcheck: verification of device live-migration protocols.

The front door: the CLI (``migcheck.cli``), the check runner and the renderers.
"""

__version__ = "0.1.0"
