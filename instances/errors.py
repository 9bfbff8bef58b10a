"""The error every check of an instance, a file or an argument describing one raises."""


class InstanceError(ValueError):
    """An instance (or a file or argument describing one) is invalid; the message names the field."""
