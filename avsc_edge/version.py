"""The SDK version: the single source (pyproject reads it); artifacts record it and a different
major.minor is refused."""
__version__ = "0.3.0"   # 0.3: base reads inputs as its references (downmix, padding, frame geometry)
