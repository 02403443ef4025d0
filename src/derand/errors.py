"""Exceptions shared by the library and the command line."""


class InputError(ValueError):
    """Invalid user input: a malformed file, an impossible parameter, NaN/inf values.

    The command line turns it into a one-line message on stderr and exit code 2.
    """
