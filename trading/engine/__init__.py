"""The market engine: pure Python and numpy, no Django, so it can be benchmarked, property
tested and reused for research on its own."""

from trading.engine.book import Book, BookError, Mechanism, Order, Rules
from trading.engine.clearing import ClearingResult, clear

__all__ = ["Book", "BookError", "ClearingResult", "Mechanism", "Order", "Rules", "clear"]
