"""Named exceptions. Every message says what is wrong, where, and how to fix it."""


class RasterflowError(Exception):
    """Base class for errors a user can act on (bad config, bad input data)."""


class ConfigError(RasterflowError):
    """A configuration key or value is wrong."""


class ExpressionError(ConfigError):
    """A custom index expression is not valid arithmetic over band names."""


class InputDataError(RasterflowError):
    """An input file (scene sheet, raster, vector) is missing or unusable."""
