"""Document storage backends."""
