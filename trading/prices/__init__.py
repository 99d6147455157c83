"""NZ wholesale prices: sources behind one interface, archives, replay and a synthetic feed.
Pure Python (requests for HTTP, no Django): the Django side stores and broadcasts."""
