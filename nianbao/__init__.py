"""nianbao: the statutory tables of Chinese government information-disclosure annual reports, as checked data."""
__version__ = "0.1.0"


def extract(path, options=None):
    """Extract one report: returns the typed :class:`~nianbao.document.Document` (never raises for a bad file)."""
    from nianbao.inference.pipeline import extract as _extract

    return _extract(path, options)


__all__ = ["extract", "__version__"]
