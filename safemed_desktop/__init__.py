"""SafeMed Desktop: an offline clinical assistant with Clinical Trust Signals.

The core (everything here except ``gui``) imports no Qt.
"""

__version__ = "0.1.0"
